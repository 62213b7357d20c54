import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { allNotFound, GUIDE_ENVELOPE, postJson, REDIS_URL, REPO_ROOT, spellingStatuses, startService, tsEntry } from '@ctp/testing';
import { loadIssuerConfig } from './config';

function runIssuer(env: Record<string, string>) {
  return spawnSync(process.execPath, tsEntry('apps/issuer/src/main.ts'), {
    cwd: REPO_ROOT,
    env: { ...process.env, CTP_PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('issuer service', () => {
  it('refuses to start without partners outside dev mode, or with bad settings, naming the variable', () => {
    const noPartners = runIssuer({ CTP_DEV_MODE: 'false' });
    expect(noPartners.status).toBe(1);
    expect(noPartners.stderr).toMatch(/CTP_PARTNERS_FILE is required/);
    const bad = runIssuer({ CTP_TOKEN_TTL_SECONDS: '3600', CTP_ISSUER: 'not a url' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/CTP_ISSUER/);
    expect(bad.stderr).toMatch(/CTP_TOKEN_TTL_SECONDS/);
  });

  it('has defaults that run locally', () => {
    expect(loadIssuerConfig({})).toMatchObject({ CTP_PORT: 8001, CTP_TOKEN_TTL_SECONDS: 240, CTP_DEV_MODE: false, CTP_ISSUER: 'http://127.0.0.1:8000' });
  });

  it('issues on its own port and creates its key directory privately', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctp-issuer-'));
    const issuer = await startService(tsEntry('apps/issuer/src/main.ts'), {
      CTP_DEV_MODE: 'true',
      CTP_KEY_DIR: join(dir, 'keys'),
      CTP_SUBJECT_SECRET_FILE: join(dir, 'subject.secret'),
      CTP_TOKEN_TTL_SECONDS: '60',
      CTP_REDIS_PREFIX: `ctp-test:${randomUUID()}:`,
      CTP_RATE_LIMIT_ISSUE: '2/60s',
    });
    try {
      const r = await postJson(`${issuer.url}/issue`, GUIDE_ENVELOPE);
      expect(r.status).toBe(200);
      expect(Date.parse(r.body.expires_at as string) - Date.now()).toBeLessThanOrEqual(60_000);
      expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, 'subject.secret')).mode & 0o777).toBe(0o600);
      const readyz = await fetch(`${issuer.url}/readyz`);
      expect(readyz.status).toBe(200);
      expect(await readyz.json()).toMatchObject({ checks: { clock: true } });
      expect(readyz.headers.get('strict-transport-security')).toMatch(/includeSubDomains/);
      // The demo partner is limited too (2 per 60 s here), through Redis.
      expect((await postJson(`${issuer.url}/issue`, GUIDE_ENVELOPE)).status).toBe(200);
      const refused = await postJson(`${issuer.url}/issue`, GUIDE_ENVELOPE);
      expect(refused.status).toBe(429);
      expect(refused.body).toMatchObject({ code: 'rate_limited' });
      // No other spelling of the path reaches the handler past the limit.
      expect(await spellingStatuses(issuer.url, 'POST', '/issue', {}, JSON.stringify(GUIDE_ENVELOPE))).toEqual(allNotFound('/issue'));
      for (const path of ['/.well-known/jwks.json', '/healthz', '/readyz', '/metrics']) expect(await spellingStatuses(issuer.url, 'GET', path)).toEqual(allNotFound(path));
      expect(issuer.output()).not.toContain(r.body.token as string);
    } finally {
      await issuer.stop();
    }
  });

  it('replays an Idempotency-Key through Redis and records funnel events', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctp-issuer-'));
    const prefix = `ctp-test:${randomUUID()}:`;
    const issuer = await startService(tsEntry('apps/issuer/src/main.ts'), {
      CTP_DEV_MODE: 'true',
      CTP_KEY_DIR: join(dir, 'keys'),
      CTP_SUBJECT_SECRET_FILE: join(dir, 'subject.secret'),
      CTP_REDIS_URL: REDIS_URL,
      CTP_REDIS_PREFIX: prefix,
    });
    const redis = new Redis(REDIS_URL);
    try {
      const key = { 'idempotency-key': `"${randomUUID()}"` };
      const first = await postJson(`${issuer.url}/issue`, GUIDE_ENVELOPE, key);
      const again = await postJson(`${issuer.url}/issue`, GUIDE_ENVELOPE, key);
      expect(first.status).toBe(200);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      // The record is in Redis (the process's one connection, shared with the rate limits), not in process.
      expect(await redis.keys(`${prefix}idem:demo:*`)).toHaveLength(1);
      const { ts: _ts, channel: _channel, processor: _processor, retention: _retention, ...context } = GUIDE_ENVELOPE;
      const funnelEvent = { ...context, outcome: 'shown', at: new Date().toISOString() };
      const recorded = await postJson(`${issuer.url}/funnel-events`, funnelEvent);
      expect(recorded.status).toBe(200);
      expect(recorded.body.event_id).toMatch(/^consent\.funnel:demo:/);
      expect(await spellingStatuses(issuer.url, 'POST', '/funnel-events', {}, JSON.stringify(funnelEvent))).toEqual(allNotFound('/funnel-events'));
    } finally {
      redis.disconnect();
      await issuer.stop();
    }
  });
});
