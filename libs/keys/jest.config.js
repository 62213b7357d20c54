module.exports = { displayName: 'keys', preset: '../../jest.preset.js' };
