import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CtpClient, createLocalValidator, type ContextEnvelope, type LocalValidator } from '@ctp/sdk';
import { GUIDE_ENVELOPE, startService, waitFor, type ServiceProcess } from '@ctp/testing';

/**
 * The local validator in a partner process that is not always idle, against `ctp up` in a process
 * of its own (so CTP keeps serving while this one is blocked): a valid token stays allowed after
 * this process was too busy to read its channels, and after a JWKS refetch fails; a JWKS too old
 * to prove a key unrevoked fails closed.
 */
const ISSUER = 'http://127.0.0.1:8000';
const envelope = (): ContextEnvelope => ({ ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] });
const busy = (ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // The event loop is blocked: no timer, no socket read.
  }
};

/** Forwards GETs to CTP, or answers 503 while `down`. */
async function switchableProxy(target: string) {
  const state = { down: false, served: 0 };
  const server: Server = createServer((req, res) => {
    if (state.down) {
      res.writeHead(503).end();
      return;
    }
    state.served++;
    void fetch(`${target}${req.url}`).then(async (answer) => {
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await answer.arrayBuffer()));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url, state, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('the local validator in a busy partner process (ctp up in its own process)', () => {
  let ctp: ServiceProcess;
  let sdk: CtpClient;
  const validators: LocalValidator[] = [];

  beforeAll(async () => {
    // Heartbeats every 200 ms, so a validator may treat 1 s of silence as a dead push channel.
    ctp = await startService(['apps/ctp/bin/ctp.js', 'up'], { CTP_DATA_DIR: mkdtempSync(join(tmpdir(), 'ctp-sdk-busy-')), CTP_PUSH_HEARTBEAT_MS: '200' });
    sdk = new CtpClient({ baseUrl: ctp.url });
  });
  afterAll(async () => {
    await Promise.all(validators.map((v) => v.close()));
    await ctp?.stop();
  });

  it('still allows valid tokens after the event loop was blocked past the push idle window and the JWKS max-age', async () => {
    const validator = createLocalValidator({ baseUrl: ctp.url, issuer: ISSUER, pushIdleMs: 1000, staleAfterMs: 1000, jwksMaxAgeMs: 1000 });
    validators.push(validator);
    await validator.ready();
    const cached = await sdk.issue(envelope());
    const firstSeen = await sdk.issue(envelope());
    const revoked = await sdk.issue(envelope());
    expect((await validator.decide(cached.token, envelope())).decision).toBe('allow');
    await sdk.revoke(revoked.jti);
    await waitFor(() => validator.decide(revoked.token, envelope()).then((d) => d.reason === 'revoked'), 5000, 'the revocation');

    busy(2500);
    // The heartbeats CTP sent meanwhile are read before the view is judged stale.
    expect(await validator.decide(cached.token, envelope())).toMatchObject({ decision: 'allow' });
    expect(await validator.decide(firstSeen.token, envelope())).toMatchObject({ decision: 'allow' });
    expect(await validator.decide(revoked.token, envelope())).toMatchObject({ decision: 'deny', reason: 'revoked' });
  }, 60_000);

  it('decides with the last JWKS while refetches fail, fails closed once it is older than jwksMaxStaleMs, and recovers', async () => {
    const proxy = await switchableProxy(ctp.url);
    try {
      const validator = createLocalValidator({
        baseUrl: ctp.url, issuer: ISSUER, jwksUrl: `${proxy.url}/.well-known/jwks.json`, jwksMaxAgeMs: 300, jwksMaxStaleMs: 2000, jwksCooldownMs: 100,
      });
      validators.push(validator);
      await validator.ready();
      const cached = await sdk.issue(envelope());
      expect((await validator.decide(cached.token, envelope())).decision).toBe('allow');
      const fetchedAt = Date.now();

      proxy.state.down = true;
      await new Promise((r) => setTimeout(r, 500));
      // Past the max-age, every refetch fails (503): the JWKS fetched 0.5 s ago still decides.
      expect(await validator.decide(cached.token, envelope())).toMatchObject({ decision: 'allow' });
      expect(await validator.decide((await sdk.issue(envelope())).token, envelope())).toMatchObject({ decision: 'allow' });
      // A kid the last JWKS does not hold is still unknown.
      const [h, p, s] = cached.token.split('.') as [string, string, string];
      const header = { ...(JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>), kid: 'key-nobody-published' };
      const unknownKid = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${s}`;
      expect(await validator.decide(unknownKid, envelope())).toMatchObject({ decision: 'deny', reason: 'unknown_kid' });

      await new Promise((r) => setTimeout(r, Math.max(0, fetchedAt + 2100 - Date.now())));
      // Older than jwksMaxStaleMs, it cannot prove the signing key was not revoked since.
      expect(await validator.decide(cached.token, envelope())).toMatchObject({ decision: 'deny', reason: 'revocation_unavailable' });
      expect(await validator.decide((await sdk.issue(envelope())).token, envelope())).toMatchObject({ decision: 'deny', reason: 'revocation_unavailable' });

      proxy.state.down = false;
      await waitFor(() => validator.decide(cached.token, envelope()).then((d) => d.decision === 'allow'), 5000, 'the JWKS to be fetched again');
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
