module.exports = { displayName: 'ctp', preset: '../../jest.preset.js' };
