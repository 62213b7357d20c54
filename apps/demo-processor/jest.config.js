module.exports = { displayName: 'demo-processor', preset: '../../jest.preset.js' };
