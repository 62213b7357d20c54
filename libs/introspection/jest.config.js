module.exports = { displayName: 'introspection', preset: '../../jest.preset.js' };
