import { z } from 'zod';
import { bool, ConfigError, kmsEnv, port, readConfig } from './index';

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
