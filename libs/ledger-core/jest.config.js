module.exports = { displayName: 'ledger-core', preset: '../../jest.preset.js' };
