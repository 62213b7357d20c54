module.exports = { displayName: 'ctp-core', preset: '../../jest.preset.js' };
