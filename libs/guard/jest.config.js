// passWithNoTests only until the first guard module lands (the guard helpers remove it).
module.exports = { displayName: 'guard', preset: '../../jest.preset.js', passWithNoTests: true };
