import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiKeyMatches, generateApiKey, hashApiKey } from './api_key';
import { AuditorRegistry } from './auditors';
import { loadAuditors, loadSigningKeys, mayUseProcessor, PartnerRegistry } from './registry';
import { generateSigningKey } from './signing_keys';

describe('partner registry', () => {
  const acme = generateApiKey('acme');
  const registry = PartnerRegistry.parse({
    partners: [
      { id: 'acme', name: 'Acme', api_key_hashes: [acme.hash], processors: ['svc://cx-ai/v1'], policy_uri: 'https://acme.example/p' },
    ],
  });

  it('authenticates a configured key and no other', () => {
    expect(registry.authenticate(acme.apiKey)?.id).toBe('acme');
    expect(registry.authenticate(acme.apiKey)?.id).toBe('acme');
    expect(registry.authenticate(`${acme.apiKey}x`)).toBeUndefined();
    expect(registry.authenticate(generateApiKey('acme').apiKey)).toBeUndefined();
    expect(registry.authenticate('nobody.key')).toBeUndefined();
    expect(registry.authenticate('')).toBeUndefined();
  });

  it('stores keys only as salted hashes', () => {
    expect(acme.hash).not.toContain(acme.apiKey.split('.')[1]);
    expect(hashApiKey(acme.apiKey)).not.toBe(hashApiKey(acme.apiKey));
    expect(apiKeyMatches(acme.apiKey, hashApiKey(acme.apiKey))).toBe(true);
    expect(apiKeyMatches(acme.apiKey, 'md5$x$y')).toBe(false);
  });

  it('limits partners to their processors', () => {
    const p = registry.get('acme')!;
    expect(mayUseProcessor(p, 'svc://cx-ai/v1')).toBe(true);
    expect(mayUseProcessor(p, 'svc://other/v1')).toBe(false);
  });

  it('rejects a malformed partners file naming the field', () => {
    expect(() => PartnerRegistry.parse({ partners: [{ id: 'Bad Id', name: 'x', api_key_hashes: ['plain'], processors: [], policy_uri: 'x' }] })).toThrow(
      /partners\.0\.id.*partners\.0\.api_key_hashes/,
    );
  });

  it('reads per-partner rate limits, and refuses malformed ones', () => {
    const file = (rate_limits: unknown) => ({
      partners: [{ id: 'acme', name: 'Acme', api_key_hashes: [acme.hash], processors: ['*'], policy_uri: 'https://acme.example/p', rate_limits }],
    });
    expect(PartnerRegistry.parse(file({ issue: '10/60s' })).get('acme')!.rateLimits).toEqual({ issue: { requests: 10, periodSeconds: 60 } });
    expect(registry.get('acme')!.rateLimits).toBeUndefined();
    expect(() => PartnerRegistry.parse(file({ issue: '10 per minute' }))).toThrow(/partners\.0\.rate_limits\.issue/);
    expect(() => PartnerRegistry.parse(file({ jwks: '1/1s' }))).toThrow(/rate_limits/);
  });

  it('does the same work for an unknown partner id as for a known one, so timing does not reveal which ids exist', () => {
    const rotating = [generateApiKey('globex'), generateApiKey('globex')];
    const two = PartnerRegistry.parse({
      partners: [
        { id: 'acme', name: 'Acme', api_key_hashes: [acme.hash], processors: ['*'], policy_uri: 'https://acme.example/p' },
        { id: 'globex', name: 'Globex', api_key_hashes: rotating.map((k) => k.hash), processors: ['*'], policy_uri: 'https://globex.example/p' },
      ],
    });
    const spy = jest.spyOn(jest.requireActual<typeof import('node:crypto')>('node:crypto'), 'createHmac');
    const hmacs = (apiKey: string) => {
      spy.mockClear();
      expect(two.authenticate(apiKey)).toBeUndefined();
      return spy.mock.calls.length;
    };
    try {
      const counts = [
        hmacs(generateApiKey('acme').apiKey),
        hmacs(generateApiKey('globex').apiKey),
        hmacs(generateApiKey('nobody').apiKey),
        hmacs(generateApiKey('acme').apiKey.replace('.', '')),
      ];
      expect(counts[0]).toBeGreaterThan(0);
      expect(new Set(counts).size).toBe(1);
      spy.mockClear();
      expect(two.authenticate(rotating[1]!.apiKey)?.id).toBe('globex');
      expect(spy.mock.calls.length).toBe(counts[0]);
    } finally {
      spy.mockRestore();
    }
  });

  it('does the same work for every auditor key, known, unknown or rotated, so timing does not reveal auditor ids', () => {
    const rotating = [generateApiKey('audit-firm'), generateApiKey('audit-firm')];
    const auditors = new AuditorRegistry([{ id: 'audit-firm', name: 'Audit Firm', api_key_hashes: rotating.map((k) => k.hash) }]);
    const spy = jest.spyOn(jest.requireActual<typeof import('node:crypto')>('node:crypto'), 'createHmac');
    const hmacs = (apiKey: string, expected: string | undefined) => {
      spy.mockClear();
      expect(auditors.authenticate(apiKey)?.id).toBe(expected);
      return spy.mock.calls.length;
    };
    try {
      const counts = [
        hmacs(rotating[0]!.apiKey, 'audit-firm'),
        hmacs(rotating[1]!.apiKey, 'audit-firm'),
        hmacs(generateApiKey('audit-firm').apiKey, undefined),
        hmacs(generateApiKey('nobody').apiKey, undefined),
        hmacs('no-dot-at-all', undefined),
      ];
      expect(counts[0]).toBe(2);
      expect(new Set(counts).size).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('compares digests with crypto.timingSafeEqual, for right and wrong keys alike', () => {
    // The module object itself (an `import * as` namespace copy would not see the calls).
    const spy = jest.spyOn(jest.requireActual<typeof import('node:crypto')>('node:crypto'), 'timingSafeEqual');
    try {
      const other = generateApiKey('acme').apiKey;
      expect(apiKeyMatches(other, acme.hash)).toBe(false);
      expect(apiKeyMatches(acme.apiKey, acme.hash)).toBe(true);
      expect(spy).toHaveBeenCalledTimes(2);
      expect(spy.mock.results.map((r) => r.value)).toEqual([false, true]);
    } finally {
      spy.mockRestore();
    }
  });

  it('reads registered request-signing keys (generated like API keys), and refuses a key whose alg does not fit its type', () => {
    const es = generateSigningKey('acme', 'ES256', 'acme-es');
    const ed = generateSigningKey('acme', 'Ed25519');
    expect(es.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(ed.entry.kid).toMatch(/^acme-ed25519-[0-9a-f]{8}$/);
    const path = join(mkdtempSync(join(tmpdir(), 'ctp-partners-')), 'partners.json');
    const partner = { id: 'acme', name: 'Acme', api_key_hashes: [acme.hash], processors: ['*'], policy_uri: 'https://acme.example/p' };
    writeFileSync(path, JSON.stringify({ partners: [{ ...partner, signing_keys: [es.entry, ed.entry] }] }));
    expect(loadSigningKeys(path)).toEqual([{ partnerId: 'acme', ...es.entry }, { partnerId: 'acme', ...ed.entry }]);
    writeFileSync(path, JSON.stringify({ partners: [{ ...partner, signing_keys: [{ ...es.entry, jwk: { ...es.entry.jwk, alg: 'ES384' } }] }] }));
    expect(() => loadSigningKeys(path)).toThrow(/partners\.0\.signing_keys\.0\.jwk\.alg/);
  });

  it('reads the auditors of the file, who authenticate like partners but are not partners', () => {
    const audit = generateApiKey('audit-firm');
    const path = join(mkdtempSync(join(tmpdir(), 'ctp-partners-')), 'partners.json');
    const partner = { id: 'acme', name: 'Acme', api_key_hashes: [acme.hash], processors: ['*'], policy_uri: 'https://acme.example/p' };
    writeFileSync(path, JSON.stringify({ partners: [partner], auditors: [{ id: 'audit-firm', name: 'Audit Firm', api_key_hashes: [audit.hash] }] }));
    const auditors = loadAuditors(path);
    expect(auditors.authenticate(audit.apiKey)).toEqual({ id: 'audit-firm', name: 'Audit Firm' });
    expect(auditors.authenticate(acme.apiKey)).toBeUndefined();
    expect(auditors.authenticate(generateApiKey('audit-firm').apiKey)).toBeUndefined();
    expect(auditors.authenticate('nobody.key')).toBeUndefined();
    expect(PartnerRegistry.parse(JSON.parse(readFileSync(path, 'utf8'))).authenticate(audit.apiKey)).toBeUndefined();
    expect(loadAuditors(undefined).size).toBe(0);
    writeFileSync(path, JSON.stringify({ partners: [partner], auditors: [{ id: 'Bad', name: 'x', api_key_hashes: ['plain'] }] }));
    expect(() => loadAuditors(path)).toThrow(/auditors\.0\.id/);
  });
});
