import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { CtpError, type IssueRequest } from '@ctp/ctp-core';
import { type Partner } from '@ctp/partners';
import { DEMO_PARTNER } from '@ctp/partners/internal';
import { GUIDE_ENVELOPE, REDIS_URL } from '@ctp/testing';
import { issueIdempotently, MemoryIdempotencyStore, parseIdempotencyKey, RedisIdempotencyStore, type IdempotencyStore } from './idempotency';
import type { IssuedToken } from './issuance_service';

const request = (): IssueRequest => ({ ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] });
const other: Partner = { ...DEMO_PARTNER, id: 'other' };

/** An issuance that counts its calls and can be held open or made to fail. */
function issuer() {
  let n = 0;
  let gate: Promise<void> = Promise.resolve();
  let failNext = false;
  return {
    calls: () => n,
    hold: () => {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return release;
    },
    failOnce: () => (failNext = true),
    issue: async (): Promise<IssuedToken> => {
      n++;
      await gate;
      if (failNext) {
        failNext = false;
        throw new CtpError('unavailable', 'the event bus is down');
      }
      return { token: `token-${n}`, jti: `jti-${n}`, expires_at: new Date(Date.now() + 240_000).toISOString() };
    },
  };
}

describe.each([
  ['in process', () => ({ store: new MemoryIdempotencyStore() as IdempotencyStore, close: async () => undefined })],
  [
    'Redis',
    () => {
      const redis = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
      return { store: new RedisIdempotencyStore(redis, `test:${randomBytes(4).toString('hex')}:`) as IdempotencyStore, close: async () => void redis.disconnect() };
    },
  ],
])('Idempotency-Key on /issue (%s)', (_name, open) => {
  let store: IdempotencyStore;
  let close: () => Promise<void>;
  beforeEach(() => ({ store, close } = open()));
  afterEach(() => close());

  it('issues once per key and body; a repeat gets the same token, another body a 422, another partner its own', async () => {
    const it1 = issuer();
    const first = await issueIdempotently(store, DEMO_PARTNER, 'k', request(), it1.issue);
    const again = await issueIdempotently(store, DEMO_PARTNER, 'k', { ...request(), features: ['tone', 'sentiment'] }, it1.issue);
    expect(first).toEqual({ issued: expect.objectContaining({ jti: 'jti-1' }), replayed: false });
    expect(again).toEqual({ issued: first.issued, replayed: true });
    await expect(issueIdempotently(store, DEMO_PARTNER, 'k', { ...request(), purpose: 'quality_assurance' }, it1.issue)).rejects.toMatchObject({ code: 'idempotency_key_reused', status: 422 });
    expect((await issueIdempotently(store, other, 'k', request(), it1.issue)).issued.jti).toBe('jti-2');
    expect(it1.calls()).toBe(2);
  });

  it('refuses a repeat while the first is still running, and frees the key when issuance fails', async () => {
    const it1 = issuer();
    const release = it1.hold();
    const running = issueIdempotently(store, DEMO_PARTNER, 'slow', request(), it1.issue);
    await new Promise((r) => setTimeout(r, 20));
    await expect(issueIdempotently(store, DEMO_PARTNER, 'slow', request(), it1.issue)).rejects.toMatchObject({ code: 'idempotency_key_in_progress', status: 409 });
    release();
    expect((await running).issued.jti).toBe('jti-1');
    it1.failOnce();
    await expect(issueIdempotently(store, DEMO_PARTNER, 'fails', request(), it1.issue)).rejects.toMatchObject({ code: 'unavailable' });
    expect((await issueIdempotently(store, DEMO_PARTNER, 'fails', request(), it1.issue)).replayed).toBe(false);
  });
});

describe('the Idempotency-Key header', () => {
  it('takes a Structured Field string or the same characters bare, and nothing else', () => {
    expect(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseIdempotencyKey('abc:1/2')).toBe('abc:1/2');
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    for (const bad of ['', '"', '""', '"open', 'close"', 'a b', 'a\\b', 'x'.repeat(256), ['a', 'b']]) {
      expect(() => parseIdempotencyKey(bad)).toThrow(expect.objectContaining({ code: 'validation_failed', errors: [expect.objectContaining({ field: 'Idempotency-Key' })] }));
    }
  });
});
