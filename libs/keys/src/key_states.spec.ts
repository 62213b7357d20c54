import { activeKeyAgeSeconds, activeKid, keyStates, planRevocation, planRotation, publishedKids, type KeyPolicy, type KeyVersion } from './key_states';

const policy: KeyPolicy = { prePublishSeconds: 120, verifyHorizonSeconds: 360, rotationPeriodSeconds: 90 * 86_400 };
const T = 1_800_000_000;
const first: KeyVersion[] = [{ kid: 'a', created_at: T, activates_at: T }];
const statuses = (keys: KeyVersion[], now: number) => Object.fromEntries(keyStates(keys, now, policy).map((k) => [k.kid, k.status]));

describe('key states over time', () => {
  const rotated = planRotation(first, 'b', T + 1000, policy);

  it('publishes a rotated-in key before it signs, for longer than the JWKS max-age', () => {
    expect(rotated[1]).toEqual({ kid: 'b', created_at: T + 1000, activates_at: T + 1120 });
    expect(statuses(rotated, T + 1000)).toEqual({ a: 'active', b: 'pending' });
    expect(statuses(rotated, T + 1119)).toEqual({ a: 'active', b: 'pending' });
    expect(activeKid(rotated, T + 1119, policy)).toBe('a');
    expect(publishedKids(rotated, T + 1000, policy)).toEqual(['b', 'a']);
  });

  it('activates the new key after the pre-publish period and keeps the old one until its tokens expired', () => {
    expect(statuses(rotated, T + 1120)).toEqual({ a: 'retiring', b: 'active' });
    expect(activeKid(rotated, T + 1120, policy)).toBe('b');
    expect(publishedKids(rotated, T + 1120 + 359, policy)).toEqual(['b', 'a']);
    expect(keyStates(rotated, T + 1120 + 360, policy).find((k) => k.kid === 'a')).toMatchObject({ status: 'retired', superseded_at: T + 1120, unpublish_at: T + 1480 });
    expect(publishedKids(rotated, T + 1480, policy)).toEqual(['b']);
  });

  it('never leaves the JWKS empty across any number of rotations', () => {
    let keys = first;
    for (let i = 0; i < 5; i++) keys = planRotation(keys, `k${i}`, T + i * 1000, policy);
    for (let now = T; now < T + 6000; now += 7) {
      expect(publishedKids(keys, now, policy).length).toBeGreaterThan(0);
      expect(activeKid(keys, now, policy)).toBeDefined();
    }
  });

  it('refuses a second rotation while one is pending', () => {
    expect(() => planRotation(rotated, 'c', T + 1001, policy)).toThrow(/already pending/);
    expect(planRotation(rotated, 'c', T + 1121, policy)).toHaveLength(3);
  });

  it('measures the active key age from its activation', () => {
    expect(activeKeyAgeSeconds(first, T + 90 * 86_400 + 1, policy)).toBe(90 * 86_400 + 1);
    expect(activeKeyAgeSeconds(rotated, T + 1130, policy)).toBe(10);
  });

  it('reads a version 1 history (each key activated when created) the same way', () => {
    const v1 = [
      { kid: 'a', created_at: T, activates_at: T },
      { kid: 'b', created_at: T + 50, activates_at: T + 50 },
    ];
    expect(statuses(v1, T + 60)).toEqual({ a: 'retiring', b: 'active' });
    expect(statuses(v1, T + 50 + 360)).toEqual({ a: 'retired', b: 'active' });
  });
});

describe('emergency revocation', () => {
  it('removes the active key at once and signs with an immediate replacement', () => {
    const { keys, replaced } = planRevocation(first, 'a', 'r', T + 10, policy);
    expect(replaced).toBe(true);
    expect(statuses(keys, T + 10)).toEqual({ a: 'revoked', r: 'active' });
    expect(publishedKids(keys, T + 10, policy)).toEqual(['r']);
  });

  it('revokes a pending key without touching the active one, and keeps a retiring key on its own schedule', () => {
    const rotated = planRotation(first, 'b', T, policy);
    const { keys, replaced } = planRevocation(rotated, 'b', 'r', T + 5, policy);
    expect(replaced).toBe(false);
    expect(statuses(keys, T + 500)).toEqual({ a: 'active', b: 'revoked' });

    const later = planRotation(first, 'b', T, policy); // b active from T + 120, a retiring until T + 480
    const revoked = planRevocation(later, 'b', 'r', T + 200, policy);
    expect(statuses(revoked.keys, T + 200)).toEqual({ a: 'retiring', b: 'revoked', r: 'active' });
    expect(statuses(revoked.keys, T + 480)).toEqual({ a: 'retired', b: 'revoked', r: 'active' });
  });

  it('keeps signing from a pending key if a hand-edited history leaves no active key', () => {
    const keys: KeyVersion[] = [
      { kid: 'a', created_at: T, activates_at: T, revoked_at: T + 10 },
      { kid: 'b', created_at: T + 5, activates_at: T + 125 },
    ];
    expect(statuses(keys, T + 20)).toEqual({ a: 'revoked', b: 'active' });
    expect(publishedKids(keys, T + 20, policy)).toEqual(['b']);
  });

  it('refuses to revoke an unknown, retired or already revoked key', () => {
    expect(() => planRevocation(first, 'x', 'r', T, policy)).toThrow(/no key x/);
    const { keys } = planRevocation(first, 'a', 'r', T, policy);
    expect(() => planRevocation(keys, 'a', 'r2', T + 1, policy)).toThrow(/already revoked/);
  });
});
