import { z } from 'zod';
import { bool, ConfigError, port, readConfig } from './index';

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
