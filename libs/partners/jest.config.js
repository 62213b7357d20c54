module.exports = { displayName: 'partners', preset: '../../jest.preset.js' };
