module.exports = { displayName: 'revocation', preset: '../../jest.preset.js' };
