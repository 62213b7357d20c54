import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { ConfigError } from '@ctp/config';
import { shutdownOnSignals } from '@ctp/http';
import { KeyDirectory } from '@ctp/keys';
import { generateApiKey } from '@ctp/partners';
import { startTracing } from '@ctp/telemetry';
import { loadUpConfig } from './config';
import { retentionCommand } from './ledger_commands';
import { exportCommand, verifyCommand } from './pack_commands';
import { banner, startCtp } from './up';

const USAGE = `usage: ctp <command>

  up                         start every service in one process (http://127.0.0.1:8000)
  export --from T --to T [--out F] [--url U]
                             download the compliance pack of a time range from a running service
  verify <pack.zip> [--key K]...
                             verify a compliance pack offline; exit 1 naming the first failure
  ledger retention [--key K]... [--key-dir D]
                             move old ledger entries to warm/cold segments, end retention (idempotent)
  keys rotate [--key-dir D]  make a new signing key active; the old one keeps verifying
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
  if (command === 'verify' && sub) return verifyCommand(sub, values.key ?? []);
  if (command === 'export') return exportCommand(values);
  if (command === 'ledger' && sub === 'retention') return retentionCommand(values);
  if (command === 'keys' && sub === 'rotate') {
    const keyDir = values['key-dir'] ?? join(loadUpConfig().CTP_DATA_DIR, 'keys');
    const kid = KeyDirectory.open(keyDir).rotate();
    console.log(`new active key ${kid} in ${keyDir}; the previous key stays in the JWKS until its tokens have expired`);
    return 0;
  }
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
