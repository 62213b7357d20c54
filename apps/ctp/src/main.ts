import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { ConfigError } from '@ctp/config';
import { shutdownOnSignals } from '@ctp/http';
import { KeyDirectory } from '@ctp/keys';
import { generateApiKey } from '@ctp/partners';
import { startTracing } from '@ctp/telemetry';
import { loadUpConfig } from './config';
import { approveCommand, newOperatorKeyCommand, proposeCommand, statusCommand } from './key_commands';
import { retentionCommand } from './ledger_commands';
import { exportCommand, verifyCommand } from './pack_commands';
import { banner, startCtp } from './up';

const USAGE = `usage: ctp <command>

  up                         start every service in one process (http://127.0.0.1:8000)
  export --from T --to T [--out F] [--url U]
                             download the compliance pack of a time range from a running service
  verify <pack.zip> [--key K]... [--tsa-root root.pem]
                             verify a compliance pack offline (RFC 3161 anchors against the pinned
                             TSA root); exit 1 naming the first failure
  ledger retention [--key K]... [--key-dir D]
                             move old ledger entries to warm/cold segments, end retention (idempotent)
  keys rotate [--key-dir D]  publish a new signing key now; it signs after the pre-publish period
                             (CTP_KEY_PREPUBLISH_SECONDS) and the old one keeps verifying until its tokens expire
  keys status [--url U]      key states, key age against the rotation policy, open key changes
  keys propose rotate|revoke --operator ID --operator-key F [--kid K] [--expires-in S] [--url U]
                             open a dual-controlled key change, signed by this operator
  keys approve <change-id> --operator ID --operator-key F [--url U]
                             approve it as a second operator; it takes effect with two approvals
  operators new-key <id> [--out F]
                             write a new Ed25519 operator key (0600) and print its operators-file entry
  partners new-key <id>      print a new API key for partner <id> and the hash to configure

Configuration is read from environment variables; see README.md.`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'key-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      from: { type: 'string' },
      to: { type: 'string' },
      out: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string', multiple: true },
      operator: { type: 'string' },
      'operator-key': { type: 'string' },
      kid: { type: 'string' },
      'expires-in': { type: 'string' },
      'tsa-root': { type: 'string' },
    },
  });
  const [command, sub, arg] = positionals;
  if (values.help || command === undefined || command === 'help') {
    console.log(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (command === 'up') {
    startTracing('ctp');
    const config = loadUpConfig();
    const running = await startCtp(config);
    shutdownOnSignals([running.server], running.close);
    console.log(banner(config, running.url));
    return -1;
  }
  if (command === 'verify' && sub) return verifyCommand(sub, values.key ?? [], values['tsa-root']);
  if (command === 'export') return exportCommand(values);
  if (command === 'ledger' && sub === 'retention') return retentionCommand(values);
  if (command === 'keys' && sub === 'rotate') {
    const keyDir = values['key-dir'] ?? join(loadUpConfig().CTP_DATA_DIR, 'keys');
    const config = loadUpConfig();
    const keys = KeyDirectory.open(keyDir, undefined, { prePublishSeconds: config.CTP_KEY_PREPUBLISH_SECONDS });
    const kid = keys.rotate();
    const activatesAt = new Date((keys.states().find((k) => k.kid === kid)?.activates_at ?? 0) * 1000).toISOString();
    console.log(`new key ${kid} in ${keyDir} is published now and signs from ${activatesAt}; the previous key stays in the JWKS until its tokens have expired`);
    return 0;
  }
  if (command === 'keys' && sub === 'status') return statusCommand(values);
  if (command === 'keys' && sub === 'propose' && arg) return proposeCommand(arg, values);
  if (command === 'keys' && sub === 'approve' && arg) return approveCommand(arg, values);
  if (command === 'operators' && sub === 'new-key' && arg) return newOperatorKeyCommand(arg, values);
  if (command === 'partners' && sub === 'new-key' && arg) {
    const { apiKey, hash } = generateApiKey(arg);
    console.log(`API key (give to the partner once; it is not stored): ${apiKey}`);
    console.log(`hash (add to api_key_hashes in the partners file):   ${hash}`);
    return 0;
  }
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    console.error(error instanceof ConfigError ? error.message : error instanceof Error ? `ctp: ${error.message}` : error);
    process.exit(1);
  },
);
