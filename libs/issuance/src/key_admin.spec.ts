import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyDirectory } from '@ctp/keys';
import { DEFAULT_PRE_PUBLISH_SECONDS } from '@ctp/keys/internal';
import { registry } from '@ctp/telemetry/internal';
import { JWKS_MAX_AGE_SECONDS } from './router';
import { startKeyAgeCheck } from './key_admin';

const DAY = 86_400;
const metric = async (name: string) => (await registry.getMetricsAsJSON()).find((m) => m.name === name)?.values ?? [];

describe('rotation policy', () => {
  it('publishes a rotated-in key for longer than verifiers may cache the JWKS', () => {
    expect(DEFAULT_PRE_PUBLISH_SECONDS).toBeGreaterThan(JWKS_MAX_AGE_SECONDS);
  });

  it('the scheduled check exports the key age and the policy, and reports a key past 90 days', async () => {
    const created = Math.floor(Date.now() / 1000) - 91 * DAY;
    const keys = KeyDirectory.open(join(mkdtempSync(join(tmpdir(), 'ctp-keyage-')), 'keys'), created);
    const overdue: number[] = [];
    const stop = startKeyAgeCheck(keys, { intervalMs: 60_000, onOverdue: (age) => overdue.push(age) });
    stop();
    expect(overdue).toHaveLength(1);
    expect(overdue[0]).toBeGreaterThanOrEqual(91 * DAY);
    expect((await metric('ctp_signing_key_age_seconds'))[0]!.value).toBeGreaterThanOrEqual(91 * DAY);
    expect((await metric('ctp_signing_key_rotation_period_seconds'))[0]!.value).toBe(90 * DAY);
    expect(await metric('ctp_signing_keys')).toContainEqual(expect.objectContaining({ labels: { status: 'active' }, value: 1 }));

    // A rotation resets the age once the new key activates; until then the old key still counts.
    keys.rotate(Math.floor(Date.now() / 1000) - keys.policy.prePublishSeconds);
    const again: number[] = [];
    startKeyAgeCheck(keys, { onOverdue: (age) => again.push(age) })();
    expect(again).toEqual([]);
    expect((await metric('ctp_signing_key_age_seconds'))[0]!.value).toBeLessThan(60);
    expect(await metric('ctp_signing_keys')).toContainEqual(expect.objectContaining({ labels: { status: 'retiring' }, value: 1 }));
  });
});
