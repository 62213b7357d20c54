import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '@ctp/config';
import { shutdownOnSignals } from '@ctp/http';
import { KeyDirectory } from '@ctp/keys';
import { generateApiKey } from '@ctp/partners';
import { startTracing } from '@ctp/telemetry';
import { loadUpConfig } from './config';
import { approveCommand, newOperatorKeyCommand, newSigningKeyCommand, proposeCommand, statusCommand } from './key_commands';
import { retentionCommand } from './ledger_commands';
import { CliError, UsageError, type Output } from './output';
import { exportCommand, verifyCommand } from './pack_commands';
import { pilotCommand } from './pilot_command';
import { banner, startCtp } from './up';

/**
 * Exit codes, the same for every command (docs/operations.md, "The ctp CLI"): 0 success, 1 the
 * command ran and failed (verification failed, the service refused, a file or URL could not be read),
 * 2 usage (unknown command or option, missing or surplus argument, a refused combination).
 */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

const URL_OPTION = ['--url <url>', 'base URL of a running CTP service (default $CTP_URL or http://127.0.0.1:8000)'] as const;
const JSON_OPTION = ['--json', 'print the result as one JSON object on stdout'] as const;
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The ctp program; `run` parses argv with it. Actions set the exit code; `up` keeps the process alive. */
export function buildProgram(version: string, result: { code: number; serving: boolean }): Command {
  const program = new Command('ctp')
    .description('Consent Token Protocol: run every service in one process, keys, partners, compliance packs')
    .version(version, '-V, --version', 'print the ctp version')
    .helpOption('-h, --help', 'show help for ctp or a command')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });
  const done = (code: number) => {
    result.code = code;
  };
  const out = (options: { json?: boolean }): Output => ({ json: options.json === true });

  program
    .command('up')
    .description('start every service in one process (http://127.0.0.1:8000); settings from CTP_* variables (README.md)')
    .action(async () => {
      startTracing('ctp');
      const config = loadUpConfig();
      const running = await startCtp(config);
      shutdownOnSignals([running.server], running.close);
      console.log(banner(config, running.url));
      result.serving = true;
    });

  program
    .command('export')
    .description('download the compliance pack of a time range from a running service')
    .requiredOption('--from <time>', 'start of the range (RFC 3339)')
    .requiredOption('--to <time>', 'end of the range (RFC 3339)')
    .option('--out <file>', 'where to write the pack (default ctp-pack-<from>-<to>.zip)')
    .option(...URL_OPTION)
    .option(...JSON_OPTION)
    .action(async (options: { from: string; to: string; out?: string; url?: string; json?: boolean }) => done(await exportCommand(options, out(options))));

  program
    .command('verify')
    .description('verify a compliance pack offline: entries, hash chain, checkpoints, inclusion proofs, RFC 3161 anchors')
    .argument('<pack>', 'the pack (.zip) written by ctp export')
    .option('--key <vkey>', "verifier key to pin (repeatable; from GET /ledger/verifiers)", collect)
    .option('--tsa-root <file>', "PEM root certificate(s) the anchors' TSA must chain to")
    .option('--insecure-no-key', 'check against the keys inside the pack itself (proves nothing about who signed it)')
    .option(...JSON_OPTION)
    .action(async (pack: string, options: { key?: string[]; tsaRoot?: string; insecureNoKey?: boolean; json?: boolean }) => {
      if (!options.key?.length && !options.insecureNoKey) throw new UsageError('verify needs --key <verifier key> (GET /ledger/verifiers); --insecure-no-key checks only that the pack agrees with itself');
      if (options.key?.length && options.insecureNoKey) throw new UsageError('--key and --insecure-no-key exclude each other');
      done(await verifyCommand(pack, options.key ?? [], options.tsaRoot, out(options)));
    });

  program
    .command('pilot')
    .description("run the spec's five-day pilot in minutes on loopback (ctp up, fault proxy, demo processor); artefacts and report.html under var/pilot/<date>/ (docs/guard.md)")
    .option('--quick', 'fewer requests and shorter fault phases (about a minute after ctp up starts)')
    .option('--out <dir>', 'where the <date>/ directory goes (default var/pilot)')
    .action(async (options: { quick?: boolean; out?: string }) => done(await pilotCommand(options)));

  const ledger = program.command('ledger').description('ledger maintenance');
  ledger
    .command('retention')
    .description('move old ledger entries to warm/cold segments and end retention (idempotent; docs/ledger-tiers.md)')
    .option('--key <vkey>', 'checkpoint verifier key the segments are proven against (repeatable)', collect)
    .option('--key-dir <dir>', 'the writer\'s checkpoint key directory, instead of --key')
    .option(...JSON_OPTION)
    .action(async (options: { key?: string[]; keyDir?: string; json?: boolean }) => done(await retentionCommand({ key: options.key, 'key-dir': options.keyDir }, process.env, out(options))));

  const keys = program.command('keys').description('token signing keys');
  keys
    .command('rotate')
    .description('publish a new signing key now; it signs after CTP_KEY_PREPUBLISH_SECONDS, the old one verifies until its tokens expire')
    .option('--key-dir <dir>', 'the key directory (default $CTP_DATA_DIR/keys)')
    .option(...JSON_OPTION)
    .action((options: { keyDir?: string; json?: boolean }) => done(rotateCommand(options.keyDir, out(options))));
  keys
    .command('status')
    .description('key states, key age against the rotation policy, open key changes')
    .option(...URL_OPTION)
    .option(...JSON_OPTION)
    .action(async (options: { url?: string; json?: boolean }) => done(await statusCommand(options, out(options))));
  keys
    .command('propose')
    .description('open a dual-controlled key change, signed by this operator')
    .addArgument(new Command().createArgument('<action>', 'rotate or revoke').choices(['rotate', 'revoke']))
    .requiredOption('--operator <id>', 'your operator id (CTP_OPERATORS_FILE)')
    .requiredOption('--operator-key <file>', 'your Ed25519 operator key (ctp operators new-key)')
    .option('--kid <kid>', 'the key to revoke (required for revoke; rotate: the active key)')
    .addOption(new Option('--expires-in <seconds>', 'how long the proposal may be approved').default('3600'))
    .option(...URL_OPTION)
    .option(...JSON_OPTION)
    .action(async (action: string, options: Parameters<typeof proposeCommand>[1] & { json?: boolean }) => done(await proposeCommand(action, options, out(options))));
  keys
    .command('approve')
    .description('approve a key change as a second operator; it takes effect with two approvals')
    .argument('<change-id>', 'the change id printed by ctp keys propose')
    .requiredOption('--operator <id>', 'your operator id')
    .requiredOption('--operator-key <file>', 'your Ed25519 operator key')
    .option(...URL_OPTION)
    .option(...JSON_OPTION)
    .action(async (id: string, options: Parameters<typeof approveCommand>[1] & { json?: boolean }) => done(await approveCommand(id, options, out(options))));

  program
    .command('operators')
    .description('dual-control operators')
    .command('new-key')
    .description('write a new Ed25519 operator key (0600) and print its operators-file entry')
    .argument('<id>', 'the operator id')
    .option('--out <file>', 'private key file (default <id>.operator.pem; never overwritten)')
    .option(...JSON_OPTION)
    .action((id: string, options: { out?: string; json?: boolean }) => done(newOperatorKeyCommand(id, options, out(options))));

  const partners = program.command('partners').description('partner credentials');
  partners
    .command('new-signing-key')
    .description('write a new request-signing key (0600) for a partner and print its partners-file signing_keys entry')
    .argument('<id>', 'the partner id')
    .requiredOption('--alg <alg>', 'ES256, Ed25519 or ML-DSA-65 (the hybrid signature)')
    .option('--kid <kid>', 'the keyid its signatures name (default <id>-<alg>-<random>)')
    .option('--out <file>', 'private key file (default <kid>.pem; never overwritten)')
    .option(...JSON_OPTION)
    .action((id: string, options: { alg: string; kid?: string; out?: string; json?: boolean }) => done(newSigningKeyCommand(id, options, out(options))));
  partners
    .command('new-key')
    .description('print a new API key for a partner and the hash to put in the partners file')
    .argument('<id>', 'the partner id')
    .option(...JSON_OPTION)
    .action((id: string, options: { json?: boolean }) => {
      const { apiKey, hash } = generateApiKey(id);
      if (options.json) console.log(JSON.stringify({ partner: id, api_key: apiKey, hash }));
      else {
        console.log(`API key (give to the partner once; it is not stored): ${apiKey}`);
        console.log(`hash (add to api_key_hashes in the partners file):   ${hash}`);
      }
      done(EXIT.ok);
    });

  // Every command refuses options and arguments it does not declare; a group without a subcommand
  // prints its help as a usage error.
  for (const command of [program, ...allCommands(program)]) {
    command.exitOverride().allowExcessArguments(false).allowUnknownOption(false).configureOutput({ outputError: (text, write) => write(text) });
  }
  return program;
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/**
 * `ctp keys rotate`: on a directory that has no keys yet, the first key is created and is the
 * result (it signs at once); only an existing directory gets a rotation.
 */
export function rotateCommand(keyDirOption: string | undefined, output: Output): number {
  const config = loadUpConfig();
  const keyDir = keyDirOption ?? join(config.CTP_DATA_DIR, 'keys');
  const existed = existsSync(join(keyDir, 'keys.json'));
  const keys = KeyDirectory.open(keyDir, undefined, { prePublishSeconds: config.CTP_KEY_PREPUBLISH_SECONDS });
  const [first] = keys.states();
  const kid = existed || !first ? keys.rotate() : first.kid;
  const activatesAt = new Date((keys.states().find((k) => k.kid === kid)?.activates_at ?? 0) * 1000).toISOString();
  if (output.json) console.log(JSON.stringify({ kid, key_dir: keyDir, created: !existed, activates_at: activatesAt }));
  else if (!existed) console.log(`new key directory ${keyDir}: first key ${kid} signs from now (${activatesAt})`);
  else console.log(`new key ${kid} in ${keyDir} is published now and signs from ${activatesAt}; the previous key stays in the JWKS until its tokens have expired`);
  return EXIT.ok;
}

/** Parses argv, runs the command, and says how the process should end: an exit code, or keep serving. */
export async function run(argv: string[], version: string): Promise<{ code: number; serving: boolean }> {
  const result = { code: EXIT.ok as number, serving: false };
  const program = buildProgram(version, result);
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return { code: EXIT.usage, serving: false };
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return result;
  } catch (error) {
    if (error instanceof CommanderError) {
      const helpOrVersion = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code);
      return { code: helpOrVersion && error.exitCode === 0 ? EXIT.ok : EXIT.usage, serving: false };
    }
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}`);
      return { code: EXIT.usage, serving: false };
    }
    if (error instanceof ConfigError) console.error(error.message);
    else if (error instanceof CliError) console.error(`ctp: ${error.message}`);
    else console.error(`ctp: ${error instanceof Error ? error.message : String(error)}`);
    return { code: EXIT.failure, serving: false };
  }
}
