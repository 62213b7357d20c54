module.exports = { displayName: 'guard', preset: '../../jest.preset.js' };
