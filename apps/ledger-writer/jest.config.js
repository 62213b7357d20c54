module.exports = { displayName: 'ledger-writer', preset: '../../jest.preset.js' };
