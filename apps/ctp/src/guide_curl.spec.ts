import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenApiContract, REPO_ROOT, startService, type ServiceProcess } from '@ctp/testing';

const FIXTURE = join(__dirname, '__fixtures__/guide_curl_examples.sh');
const GUIDE = join(REPO_ROOT, '../shared/spec/002_ef08abc3b94df385.txt');
/** The guide hard-codes port 8000; CTP_E2E_PORT moves this test elsewhere if 8000 is taken. */
const PORT = Number(process.env.CTP_E2E_PORT ?? 8000);

function blocks(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of readFileSync(FIXTURE, 'utf8').split(/^### /m).slice(1)) {
    const [name, ...lines] = part.split('\n');
    out[name!] = lines.join('\n').replaceAll('127.0.0.1:8000', `127.0.0.1:${PORT}`);
  }
  return out;
}

function bash(script: string): string {
  return execFileSync('bash', ['-c', script], { encoding: 'utf8', timeout: 10_000 });
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

describe("the integration guide's curl examples, verbatim through bash, against `ctp up`", () => {
  const contract = new OpenApiContract();
  let ctp: ServiceProcess;

  beforeAll(async () => {
    if (await portInUse(PORT)) throw new Error(`127.0.0.1:${PORT} is taken (is a ctp up running?); stop it or set CTP_E2E_PORT`);
    ctp = await startService(['apps/ctp/bin/ctp.js', 'up'], { CTP_PORT: String(PORT), CTP_DATA_DIR: mkdtempSync(join(tmpdir(), 'ctp-guide-')) });
  });
  afterAll(() => ctp?.stop());

  it('the fixture is the guide text, unchanged', () => {
    if (!existsSync(GUIDE)) throw new Error(`the guide is not at ${GUIDE}; shared/ must sit beside the repository`);
    const guide = readFileSync(GUIDE, 'utf8');
    for (const block of Object.values(blocks())) expect(guide).toContain(block.replaceAll(`127.0.0.1:${PORT}`, '127.0.0.1:8000'));
  });

  it('start banner announces dev mode', () => {
    expect(ctp.output()).toMatch(/CTP is up on http:\/\/127\.0\.0\.1:\d+/);
    expect(ctp.output()).toMatch(/DEV MODE/);
  });

  it('Issue, Introspect (placeholder and real token) and Revoke return the documented shapes', () => {
    const { Issue, Introspect, Revoke } = blocks();
    const issued = JSON.parse(bash(Issue!));
    contract.validate('POST', '/issue', 200, 'application/json', issued);
    expect(Object.keys(issued).sort()).toEqual(['expires_at', 'jti', 'token']);

    const placeholder = JSON.parse(bash(Introspect!));
    contract.validate('POST', '/introspect', 200, 'application/json', placeholder);
    expect(placeholder).toEqual({ active: false, decision: 'deny', reason: 'malformed', sub: null, jti: null, scope: null, purpose: null });

    const real = JSON.parse(bash(Introspect!.replace('TOKEN="eyJhbGciOi..."', `TOKEN="${issued.token}"`)));
    contract.validate('POST', '/introspect', 200, 'application/json', real);
    expect(real).toMatchObject({ active: true, decision: 'allow', reason: null, jti: issued.jti, purpose: 'customer_retention' });

    const revoked = JSON.parse(bash(Revoke!));
    contract.validate('POST', '/revoke', 200, 'application/json', revoked);
    expect(revoked).toEqual({ status: 'ok', revoked: 'c0b3e1f8-4567-4890-abcd-1234567890ab' });

    const revokeIssued = Revoke!.replace('c0b3e1f8-4567-4890-abcd-1234567890ab', issued.jti);
    expect(JSON.parse(bash(revokeIssued))).toEqual({ status: 'ok', revoked: issued.jti });
    const after = JSON.parse(bash(Introspect!.replace('TOKEN="eyJhbGciOi..."', `TOKEN="${issued.token}"`)));
    expect(after).toMatchObject({ decision: 'deny', reason: 'revoked' });
  });
});
