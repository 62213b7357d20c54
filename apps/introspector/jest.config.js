module.exports = { displayName: 'introspector', preset: '../../jest.preset.js' };
