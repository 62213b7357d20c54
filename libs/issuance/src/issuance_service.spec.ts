import { GUIDE_ENVELOPE } from '@ctp/testing';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contextHash, CtpError, decodeCompactJws, decodeJwsPayload, verifyJwsSignature, type IssueRequest } from '@ctp/ctp-core';
import { KeyDirectory } from '@ctp/keys';
import { type Partner } from '@ctp/partners';
import { DEMO_PARTNER } from '@ctp/partners/internal';
import { TOKEN_OWNER_STREAM_SPEC } from '@ctp/events';
import { TokenOwnerRegistry } from '@ctp/revocation';
import { MemoryBus } from '@ctp/bus';
import { IssuanceService } from './issuance_service';

const keys = KeyDirectory.open(join(mkdtempSync(join(tmpdir(), 'ctp-issue-')), 'keys'));
const ledger = new MemoryBus();
const owners = new TokenOwnerRegistry(ledger);
beforeAll(() => ledger.ensureStreams([{ name: 'CTP_LEDGER', subjects: ['ctp.ledger.>'], maxAgeMs: 60_000 }, TOKEN_OWNER_STREAM_SPEC]));
const service = new IssuanceService({ keys, owners, events: ledger, issuer: 'http://ctp.test', ttlSeconds: 240, subjectSecret: Buffer.alloc(32, 1) });
const request: IssueRequest = { ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] };
const acme: Partner = { id: 'acme', name: 'Acme', processors: ['svc://cx-ai/v1'], policyUri: 'https://acme.example/p' };

function payloadOf(token: string) {
  const decoded = decodeCompactJws(token);
  if (!decoded.ok) throw new Error(decoded.reason);
  expect(verifyJwsSignature(decoded.jws, keys.cached(decoded.jws.header.kid)!)).toBe(true);
  return { header: decoded.jws.header, claims: decodeJwsPayload(decoded.jws)! };
}

describe('IssuanceService', () => {
  it('issues a signed token with the guide §5 claims and an ISO expiry, recording its owner', async () => {
    const now = Date.parse('2026-11-23T10:00:00Z');
    const issued = await service.issue(acme, { ...request, subject_ref: 'user-1' }, now);
    const { header, claims } = payloadOf(issued.token);
    expect(header).toEqual({ alg: 'ES256', kid: keys.signingKey().kid, typ: 'JWT' });
    expect(claims).toMatchObject({
      iss: 'http://ctp.test',
      aud: 'svc://cx-ai/v1',
      iat: now / 1000,
      exp: now / 1000 + 240,
      jti: issued.jti,
      scope: ['sentiment.read', 'tone.read'],
      context_hash: contextHash(request),
      policy_uri: 'https://acme.example/p',
    });
    expect(issued.jti).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(issued.expires_at).toBe('2026-11-23T10:04:00.000Z');
    expect(JSON.stringify(claims)).not.toContain('user-1');
    expect(await owners.owner(issued.jti)).toEqual({ partnerId: 'acme', expiresAt: now / 1000 + 240 });
    const { events } = await ledger.read<Record<string, unknown>>({ stream: 'CTP_LEDGER', filter: 'ctp.ledger.>', fromSeq: 1, max: 1 });
    expect(events[0]!.data).toMatchObject({ event_id: `consent.issued:${issued.jti}`, type: 'consent.issued', partner_id: 'acme', sub: claims.sub, consent_ts: request.ts });
    expect(JSON.stringify(events[0]!.data)).not.toContain('user-1');
  });

  it('gives the same subject reference the same pseudonym at one partner only', async () => {
    const sub = async (p: Partner, ref?: string) => payloadOf((await service.issue(p, { ...request, subject_ref: ref })).token).claims.sub;
    expect(await sub(acme, 'u')).toBe(await sub(acme, 'u'));
    expect(await sub(acme, 'u')).not.toBe(await sub(DEMO_PARTNER, 'u'));
    expect(await sub(acme)).not.toBe(await sub(acme));
  });

  it('refuses processors the partner is not configured for, and consent times in the future', async () => {
    await expect(service.issue(acme, { ...request, processor: 'svc://other/v1' })).rejects.toMatchObject({ code: 'processor_not_allowed', status: 403 });
    const now = Date.parse('2026-01-01T00:00:00Z');
    await expect(service.issue(acme, { ...request, ts: '2026-01-01T00:01:01Z' }, now)).rejects.toBeInstanceOf(CtpError);
    expect((await service.issue(acme, { ...request, ts: '2026-01-01T00:01:00Z' }, now)).jti).toBeTruthy();
  });

  it('issues nothing when the event bus cannot store the consent.issued event', async () => {
    const noStream = new IssuanceService({ keys, owners, events: new MemoryBus(), issuer: 'http://ctp.test', ttlSeconds: 240, subjectSecret: Buffer.alloc(32, 1) });
    await expect(noStream.issue(acme, request)).rejects.toMatchObject({ code: 'unavailable', status: 503, message: expect.stringMatching(/event bus/) });
  });

  it('issues nothing when the owner registry cannot store the owner', async () => {
    const noOwnerStream = new MemoryBus();
    await noOwnerStream.ensureStreams([{ name: 'CTP_LEDGER', subjects: ['ctp.ledger.>'], maxAgeMs: 60_000 }]);
    const down = new IssuanceService({
      keys,
      events: ledger,
      owners: new TokenOwnerRegistry(noOwnerStream),
      issuer: 'http://ctp.test',
      ttlSeconds: 240,
      subjectSecret: Buffer.alloc(32, 1),
    });
    await expect(down.issue(acme, request)).rejects.toMatchObject({ code: 'unavailable', status: 503, message: expect.stringMatching(/owner registry/) });
  });
});
