import { z } from 'zod';
import { bool, ConfigError, kmsEnv, port, rateLimitEnv, rateLimitsOf, readConfig, TLS_PAIR_MESSAGE, tlsEnv, tlsFilesPaired } from './index';

describe('readConfig', () => {
  const schema = z.object({ CTP_PORT: port(8000), CTP_DEV_MODE: bool(false), CTP_ISSUER: z.url() });

  it('applies defaults and coerces values', () => {
    expect(readConfig(schema, { CTP_ISSUER: 'http://x', CTP_DEV_MODE: '1', CTP_PORT: '' })).toEqual({
      CTP_PORT: 8000,
      CTP_DEV_MODE: true,
      CTP_ISSUER: 'http://x',
    });
  });

  it('names every bad variable', () => {
    try {
      readConfig(schema, { CTP_PORT: '70000', CTP_DEV_MODE: 'yes' });
      throw new Error('expected failure');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems.map((p) => p.split(':')[0])).toEqual(['CTP_PORT', 'CTP_DEV_MODE', 'CTP_ISSUER']);
    }
  });
});

describe('rate limits and TLS settings', () => {
  const schema = z.object({ ...tlsEnv, ...rateLimitEnv }).refine(tlsFilesPaired, TLS_PAIR_MESSAGE);

  it('defaults to high per-partner limits and reads <requests>/<seconds>s', () => {
    const config = readConfig(schema, { CTP_RATE_LIMIT_ISSUE: '10/60s' });
    expect(rateLimitsOf(config)).toEqual({
      issue: { requests: 10, periodSeconds: 60 },
      introspect: { requests: 50_000, periodSeconds: 1 },
      revoke: { requests: 5_000, periodSeconds: 1 },
    });
    expect(() => readConfig(schema, { CTP_RATE_LIMIT_REVOKE: '0/1s' })).toThrow(/CTP_RATE_LIMIT_REVOKE/);
  });

  it('wants both TLS files or neither', () => {
    expect(readConfig(schema, {}).CTP_TLS_CERT_FILE).toBeUndefined();
    expect(readConfig(schema, { CTP_TLS_CERT_FILE: 'c.pem', CTP_TLS_KEY_FILE: 'k.pem' }).CTP_TLS_KEY_FILE).toBe('k.pem');
    expect(() => readConfig(schema, { CTP_TLS_CERT_FILE: 'c.pem' })).toThrow(/CTP_TLS_KEY_FILE: set CTP_TLS_CERT_FILE and CTP_TLS_KEY_FILE together/);
  });
});

describe('kmsEnv', () => {
  const schema = z.object(kmsEnv);
  const version = 'projects/p/locations/europe-west1/keyRings/ctp/cryptoKeys/tokens/cryptoKeyVersions/3';

  it('is off by default, with a bounded deadline', () => {
    expect(readConfig(schema, {})).toEqual({ CTP_KMS_KEY: undefined, CTP_KMS_PUBLISHED_KEYS: [], CTP_KMS_ENDPOINT: undefined, CTP_KMS_TIMEOUT_MS: 3000 });
  });

  it('takes a CryptoKeyVersion, published versions as a list, and a host:port endpoint', () => {
    const next = version.replace(/3$/, '4');
    expect(readConfig(schema, { CTP_KMS_KEY: version, CTP_KMS_PUBLISHED_KEYS: ` ${next} ,`, CTP_KMS_ENDPOINT: '127.0.0.1:9090', CTP_KMS_TIMEOUT_MS: '500' })).toEqual({
      CTP_KMS_KEY: version,
      CTP_KMS_PUBLISHED_KEYS: [next],
      CTP_KMS_ENDPOINT: '127.0.0.1:9090',
      CTP_KMS_TIMEOUT_MS: 500,
    });
  });

  it('rejects a CryptoKey without a version, a URL endpoint and an unbounded deadline', () => {
    try {
      readConfig(schema, { CTP_KMS_KEY: version.replace(/\/cryptoKeyVersions\/3$/, ''), CTP_KMS_PUBLISHED_KEYS: 'tokens', CTP_KMS_ENDPOINT: 'https://kms', CTP_KMS_TIMEOUT_MS: '0' });
      throw new Error('expected failure');
    } catch (e) {
      expect((e as ConfigError).problems.map((p) => p.split(/[.:]/)[0])).toEqual(['CTP_KMS_KEY', 'CTP_KMS_PUBLISHED_KEYS', 'CTP_KMS_ENDPOINT', 'CTP_KMS_TIMEOUT_MS']);
    }
  });
});
