import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ctp/http';
import { expectReadmeDocuments, GUIDE_ENVELOPE, postJson, REPO_ROOT } from '@ctp/testing';
import { upConfigSchema } from './config';
import { banner, startCtp } from './up';

/** Runs the ctp CLI without blocking this process, which serves the requests the CLI makes. */
function ctpCli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['apps/ctp/bin/ctp.js', ...args], { cwd: REPO_ROOT, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('ctp up (embedded bus and revocation list)', () => {
  it('demonstrates issue -> introspect -> revoke -> deny in one process', async () => {
    const config = upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: mkdtempSync(join(tmpdir(), 'ctp-up-')) });
    const ctp = await startCtp(config, createLogger('test'));
    try {
      const issued = (await postJson(`${ctp.url}/issue`, GUIDE_ENVELOPE)).body as { token: string; jti: string };
      const introspect = async () => (await postJson(`${ctp.url}/introspect`, { token: issued.token, context_envelope: GUIDE_ENVELOPE })).body;
      expect(await introspect()).toMatchObject({ decision: 'allow' });
      expect((await postJson(`${ctp.url}/revoke`, { jti: issued.jti })).body).toEqual({ status: 'ok', revoked: issued.jti });
      expect(await introspect()).toMatchObject({ decision: 'deny', reason: 'revoked' });
      expect(banner(config, ctp.url)).toMatch(/event bus: in-process; revocation list: in-process[\s\S]*DEV MODE/);
    } finally {
      await ctp.close();
    }
  });

  it('exports a compliance pack that `ctp verify` checks offline, and names the failure of a damaged one', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ctp-up-'));
    const config = upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: dataDir, CTP_LEDGER_BATCH_WAIT_MS: '20' });
    const ctp = await startCtp(config, createLogger('test'));
    try {
      for (let i = 0; i < 3; i++) await postJson(`${ctp.url}/issue`, GUIDE_ENVELOPE);
      const from = new Date(Date.now() - 60_000).toISOString();
      const to = new Date(Date.now() + 60_000).toISOString();
      const out = join(dataDir, 'pack.zip');
      await new Promise((r) => setTimeout(r, 200));
      const exported = await ctpCli(['export', '--from', from, '--to', to, '--out', out, '--url', ctp.url]);
      expect(exported.status).toBe(0);
      const keys = ((await (await fetch(`${ctp.url}/ledger/verifiers`)).json()) as { keys: { vkey: string }[] }).keys;
      const verified = await ctpCli(['verify', out, '--key', keys[0]!.vkey]);
      expect(verified.status).toBe(0);
      expect(verified.stdout).toMatch(/^OK [\s\S]*entries: +3 [\s\S]*contained in signed checkpoint/);
      writeFileSync(out, readFileSync(out).subarray(0, 200));
      const broken = await ctpCli(['verify', out, '--key', keys[0]!.vkey]);
      expect(broken.status).toBe(1);
      expect(broken.stderr).toMatch(/^FAIL unreadable: /);
    } finally {
      await ctp.close();
    }
  });

  it('documents its configuration in the README', () => {
    expectReadmeDocuments(upConfigSchema);
  });
});
