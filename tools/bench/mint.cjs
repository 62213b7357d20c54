'use strict';
// Mints consent tokens with the running `ctp up` server's own signing key, subject
// secret, issuer and TTL (read from CTP_DATA_DIR and the same environment), through
// the real IssuanceService with no-op owner registry and event bus. The tokens are
// exactly what POST /issue returns, minus the side effects, and much faster to make
// in bulk; run.mjs uses them only where it needs tens of thousands of never-seen
// tokens (the first-seen rate search). Writes one token per line to stdout.
//   node tools/bench/mint.cjs <count> <envelope-json>
require('tsx/cjs');
const { join } = require('node:path');
const { IssuanceService } = require('@ctp/issuance');
const { KeyDirectory, loadOrCreateSecret } = require('@ctp/keys');
const { loadPartnerAuth } = require('@ctp/partners');
const { loadUpConfig } = require('../../apps/ctp/src/config');

async function main() {
  const count = Number(process.argv[2]);
  const envelope = JSON.parse(process.argv[3]);
  if (!Number.isInteger(count) || count < 1 || count > 1_000_000) throw new Error('count must be 1..1,000,000');
  const config = loadUpConfig();
  const partner = loadPartnerAuth(undefined, true).devPartner;
  const service = new IssuanceService({
    keys: KeyDirectory.open(join(config.CTP_DATA_DIR, 'keys')),
    owners: { setOwner: async () => undefined },
    events: { publish: async () => 0 },
    issuer: config.CTP_ISSUER,
    ttlSeconds: config.CTP_TOKEN_TTL_SECONDS,
    subjectSecret: loadOrCreateSecret(join(config.CTP_DATA_DIR, 'subject.secret')),
  });
  const lines = [];
  for (let i = 0; i < count; i++) {
    lines.push((await service.issue(partner, envelope)).token);
    if (lines.length === 4096) {
      process.stdout.write(`${lines.join('\n')}\n`);
      lines.length = 0;
    }
  }
  if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
