import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError } from './output';

/** The repository checkout this CLI runs from (apps/ctp/src -> the root). */
const REPO_ROOT = resolve(__dirname, '../../..');
const PILOT_ENTRY = join(REPO_ROOT, 'tools/pilot/main.ts');

/**
 * `ctp pilot [--quick] [--out <dir>]`: runs the five-day pilot (tools/pilot) in its own process. The pilot
 * drives the demo processor through the test harness's fault proxy, which never ships, so it runs from a
 * clone of the repository, not from a deployed image. Resolves with the pilot's exit code (1: a success
 * metric was missed, or the pilot failed).
 */
export async function pilotCommand(options: { quick?: boolean; out?: string }): Promise<number> {
  if (!existsSync(PILOT_ENTRY)) throw new CliError('ctp pilot runs from a clone of the repository (tools/pilot is not part of this installation)');
  const args = ['--import', 'tsx', PILOT_ENTRY, ...(options.quick ? ['--quick'] : []), ...(options.out ? ['--out', resolve(options.out)] : [])];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: 'inherit', env: { LOG_LEVEL: 'error', ...process.env } });
  return await new Promise<number>((done, fail) => {
    child.once('error', fail);
    child.once('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}
