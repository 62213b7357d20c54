module.exports = { displayName: 'revocation-broadcaster', preset: '../../jest.preset.js' };
