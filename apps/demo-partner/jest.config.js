module.exports = { displayName: 'demo-partner', preset: '../../jest.preset.js' };
