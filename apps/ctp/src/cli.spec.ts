import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT } from '@ctp/testing';

/** The real CLI in its own process, as an operator runs it: exit code, stdout, stderr. */
function ctp(args: string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['apps/ctp/bin/ctp.js', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('the ctp CLI: exit codes 0 ok, 1 failure, 2 usage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctp-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--version prints the version; --help and per-command --help list that command\'s own options', async () => {
    const version = JSON.parse(readFileSync(join(REPO_ROOT, 'apps/ctp/package.json'), 'utf8')).version as string;
    const [v, help, verifyHelp, rotateHelp] = await Promise.all([ctp(['--version']), ctp(['--help']), ctp(['verify', '--help']), ctp(['keys', 'rotate', '--help'])]);
    expect([v.status, v.stdout.trim()]).toEqual([0, version]);
    expect(help.status).toBe(0);
    for (const command of ['up', 'export', 'verify', 'pilot', 'ledger', 'keys', 'operators', 'partners']) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(verifyHelp.status).toBe(0);
    for (const option of ['--key <vkey>', '--tsa-root <file>', '--insecure-no-key', '--json']) expect(verifyHelp.stdout).toContain(option);
    expect(verifyHelp.stdout).not.toContain('--operator');
    expect(rotateHelp.stdout).toContain('--key-dir <dir>');
    expect(rotateHelp.stdout).not.toContain('--url');
  });

  it.each([
    [['up', '--from', 'x'], /unknown option '--from'/],
    [['keys', 'rotate', '--url', 'http://x'], /unknown option '--url'/],
    [['verify', 'p.zip', '--key', 'k', '--operator', 'alice'], /unknown option '--operator'/],
    [['nope'], /unknown command 'nope'/],
    [['keys', 'nope'], /unknown command 'nope'/],
    [['export', '--from', '2026-01-01T00:00:00Z'], /required option '--to <time>' not specified/],
    [['partners', 'new-key'], /missing required argument 'id'/],
    [['partners', 'new-key', 'acme', 'extra'], /too many arguments/],
    [['keys', 'propose', 'destroy', '--operator', 'a', '--operator-key', 'f'], /value 'destroy' is invalid for argument 'action'/],
    [['verify', 'p.zip'], /verify needs --key/],
    [['verify', 'p.zip', '--key', 'k', '--insecure-no-key'], /exclude each other/],
    [[], /Usage: ctp/],
    [['keys'], /Usage: ctp keys/],
  ])('refuses %j as a usage error (exit 2)', async (args, message) => {
    const result = await ctp(args);
    expect([result.status, result.stderr]).toEqual([2, expect.stringMatching(message)]);
    expect(result.stdout).toBe('');
  });

  it('verify refuses without --key unless --insecure-no-key; a failed verification exits 1, with --json too', async () => {
    const bad = join(dir, 'bad.zip');
    writeFileSync(bad, 'not a zip');
    const text = await ctp(['verify', bad, '--insecure-no-key']);
    expect([text.status, text.stderr]).toEqual([1, expect.stringMatching(/^FAIL unreadable: not a readable zip archive/)]);
    const json = await ctp(['verify', join(dir, 'missing.zip'), '--key', 'k', '--json']);
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, code: 'unreadable', message: expect.stringContaining('missing.zip') });
  });

  it('network errors name the URL (exit 1)', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const [exported, status] = await Promise.all([
      ctp(['export', '--from', '2026-01-01T00:00:00Z', '--to', '2026-02-01T00:00:00Z', '--url', url]),
      ctp(['keys', 'status', '--url', url]),
    ]);
    expect([exported.status, exported.stderr]).toEqual([1, expect.stringContaining(`cannot reach ${url}/ledger/export?from=`)]);
    expect(exported.stderr).toContain('ECONNREFUSED');
    expect([status.status, status.stderr]).toEqual([1, expect.stringContaining(`cannot reach ${url}/admin/keys: ECONNREFUSED`)]);
  });

  it('keys rotate on an empty directory creates one key, which signs at once; the next rotate adds one', async () => {
    const keyDir = join(dir, 'keys');
    const first = await ctp(['keys', 'rotate', '--key-dir', keyDir]);
    expect(first.status).toBe(0);
    const keys = () => (JSON.parse(readFileSync(join(keyDir, 'keys.json'), 'utf8')) as { keys: { kid: string }[] }).keys;
    expect(keys()).toHaveLength(1);
    expect(first.stdout).toContain(`first key ${keys()[0]!.kid} signs from now`);
    const second = await ctp(['keys', 'rotate', '--key-dir', keyDir, '--json']);
    expect(second.status).toBe(0);
    const rotated = JSON.parse(second.stdout) as { kid: string; created: boolean; activates_at: string };
    expect(rotated).toMatchObject({ created: false, key_dir: keyDir });
    expect(keys().map((k) => k.kid)).toEqual([keys()[0]!.kid, rotated.kid]);
    expect(Date.parse(rotated.activates_at)).toBeGreaterThan(Date.now() + 60_000);
  });

  it('--json prints one JSON object for the key commands; a file it must not overwrite is a failure', async () => {
    const partner = await ctp(['partners', 'new-key', 'acme', '--json']);
    expect(JSON.parse(partner.stdout)).toEqual({ partner: 'acme', api_key: expect.stringMatching(/^acme\./), hash: expect.stringMatching(/^hmac-sha256\$/) });
    const out = join(dir, 'carol.pem');
    const operator = await ctp(['operators', 'new-key', 'carol', '--out', out, '--json']);
    expect(JSON.parse(operator.stdout)).toEqual({ private_key_file: out, entry: { id: 'carol', public_key: expect.any(String) } });
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const again = await ctp(['operators', 'new-key', 'carol', '--out', out]);
    expect([again.status, again.stderr]).toEqual([1, expect.stringContaining(`cannot write ${out}: EEXIST`)]);
    expect(existsSync(out)).toBe(true);
    const signingOut = join(dir, 'acme-sig.pem');
    const signing = await ctp(['partners', 'new-signing-key', 'acme', '--alg', 'Ed25519', '--kid', 'acme-ed', '--out', signingOut, '--json']);
    expect(JSON.parse(signing.stdout)).toEqual({ partner: 'acme', private_key_file: signingOut, entry: { kid: 'acme-ed', jwk: { kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519', x: expect.any(String) } } });
    expect(statSync(signingOut).mode & 0o777).toBe(0o600);
    const badAlg = await ctp(['partners', 'new-signing-key', 'acme', '--alg', 'RS256']);
    expect([badAlg.status, badAlg.stderr]).toEqual([expect.any(Number), expect.stringContaining('--alg must be one of ES256, Ed25519, ML-DSA-65')]);
  });
});
