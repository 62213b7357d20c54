module.exports = { displayName: 'issuance', preset: '../../jest.preset.js' };
