import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@ctp/testing';

const ROOT = join(__dirname, '../..');

/** `ctp up` (embedded defaults, dev mode) as its own process on a free port, for a benchmark; resolves once ready. */
export async function startCtpUp(name: string, env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [join(ROOT, 'apps/ctp/bin/ctp.js'), 'up'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', CTP_PORT: String(port), CTP_ISSUER: url, CTP_DATA_DIR: mkdtempSync(join(tmpdir(), `ctp-bench-${name}-`)), ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // Generous: on a busy shared machine `ctp up` can take a minute to start.
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) return { url, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('ctp up did not become ready within 120 s');
}
