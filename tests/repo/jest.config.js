// Repository-wide checks: Helm charts, alert rules and runbooks, dashboard, Dockerfile, docs against the code.
module.exports = { displayName: 'repo-checks', preset: '../../jest.preset.js', testTimeout: 120000 };
