import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ctp/http';
import { createTestCa, expectReadmeDocuments, GUIDE_ENVELOPE, OpenApiContract, postJson, REPO_ROOT, startTestTsa, waitFor } from '@ctp/testing';
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

  it('anchors checkpoints at a real RFC 3161 TSA; `ctp verify --tsa-root` checks the anchors in the pack', async () => {
    const [tsa, otherCa] = await Promise.all([startTestTsa(), createTestCa('Some Other Root')]);
    const dataDir = mkdtempSync(join(tmpdir(), 'ctp-up-'));
    const rootFile = join(dataDir, 'tsa-root.pem');
    const wrongRootFile = join(dataDir, 'other-root.pem');
    writeFileSync(rootFile, tsa.ca.rootPem);
    writeFileSync(wrongRootFile, otherCa.rootPem);
    const config = upConfigSchema.parse({
      CTP_PORT: '0',
      CTP_DATA_DIR: dataDir,
      CTP_LEDGER_BATCH_WAIT_MS: '20',
      CTP_TSA_URL: tsa.url,
      CTP_TSA_ROOTS: rootFile,
      CTP_LEDGER_ANCHOR_INTERVAL_MS: '1000',
    });
    const ctp = await startCtp(config, createLogger('test'));
    try {
      for (let i = 0; i < 3; i++) await postJson(`${ctp.url}/issue`, GUIDE_ENVELOPE);
      type Anchors = { anchors: { checkpoint_size: number }[] };
      let listed: Anchors = { anchors: [] };
      await waitFor(
        async () => {
          const res = await fetch(`${ctp.url}/ledger/anchors`);
          listed = (await res.json()) as Anchors;
          new OpenApiContract().validate('GET', '/ledger/anchors', res.status, res.headers.get('content-type')!, listed);
          return listed.anchors.some((a) => a.checkpoint_size >= 3);
        },
        20_000,
        'an anchor of the checkpoint holding the three entries',
      );
      const anchored = listed.anchors.find((a) => a.checkpoint_size >= 3)!.checkpoint_size;
      const from = new Date(Date.now() - 60_000).toISOString();
      const to = new Date(Date.now() + 60_000).toISOString();
      const out = join(dataDir, 'pack.zip');
      expect((await ctpCli(['export', '--from', from, '--to', to, '--out', out, '--url', ctp.url])).status).toBe(0);
      const key = ((await (await fetch(`${ctp.url}/ledger/verifiers`)).json()) as { keys: { vkey: string }[] }).keys[0]!.vkey;

      const verified = await ctpCli(['verify', out, '--key', key, '--tsa-root', rootFile]);
      expect(verified.stderr).toBe('');
      expect(verified.status).toBe(0);
      expect(verified.stdout).toMatch(new RegExp(`anchors: +\\d+ RFC 3161 token\\(s\\) verify to the pinned TSA root:[\\s\\S]*checkpoint ${anchored} at \\d{4}-[\\d-]+T[\\d:.]+Z by CN=CTP Test TSA tsa`));

      const unpinned = await ctpCli(['verify', out, '--key', key]);
      expect(unpinned.status).toBe(0);
      expect(unpinned.stdout).toMatch(/anchors: +\d+ RFC 3161 token\(s\) UNCHECKED[\s\S]*WARNING: no --tsa-root given/);

      const wrongRoot = await ctpCli(['verify', out, '--key', key, '--tsa-root', wrongRootFile]);
      expect(wrongRoot.status).toBe(1);
      expect(wrongRoot.stderr).toMatch(/^FAIL bad_anchor: anchor for checkpoint \d+: the TSA certificate does not chain to a trusted root/);
    } finally {
      await ctp.close();
      await tsa.close();
      rmSync(otherCa.dir, { recursive: true, force: true });
    }
    // Four CLI runs (each a tsx start) on a shared 2-core machine.
  }, 180_000);

  it("passes the umbrella chart's helm test (issue -> introspect -> revoke -> deny), run against ctp up", async () => {
    const config = upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: mkdtempSync(join(tmpdir(), 'ctp-up-')) });
    const ctp = await startCtp(config, createLogger('test'));
    try {
      const result = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [join(REPO_ROOT, 'charts/ctp/files/helm-test-token-flow.js')],
          { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH, ISSUER_URL: ctp.url, INTROSPECTOR_URL: ctp.url, BROADCASTER_URL: ctp.url, PROCESSOR: 'svc://ctp-helm-test/v1' } },
          (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      });
      expect([result.status, result.stderr]).toEqual([0, '']);
      expect(result.stdout).toMatch(/introspect: allow\nrevoked\nintrospect after revoke: deny \(revoked\)\ntoken flow OK/);
      const failing = await new Promise<number>((resolve) => {
        execFile(process.execPath, [join(REPO_ROOT, 'charts/ctp/files/helm-test-token-flow.js')], { env: { PATH: process.env.PATH, ISSUER_URL: ctp.url, INTROSPECTOR_URL: ctp.url, BROADCASTER_URL: ctp.url, PROCESSOR: 'not a uri' } }, (error) =>
          resolve(error ? Number(error.code ?? 1) : 0),
        );
      });
      expect(failing).toBe(1);
    } finally {
      await ctp.close();
    }
  });

  it('documents its configuration in the README', () => {
    expectReadmeDocuments(upConfigSchema);
  });
});
