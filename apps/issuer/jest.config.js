module.exports = { displayName: 'issuer', preset: '../../jest.preset.js' };
