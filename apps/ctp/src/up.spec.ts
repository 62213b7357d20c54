import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ctp/http';
import { expectReadmeDocuments, GUIDE_ENVELOPE, postJson } from '@ctp/testing';
import { upConfigSchema } from './config';
import { banner, startCtp } from './up';

describe('ctp up (embedded bus and revocation list)', () => {
  it('demonstrates issue -> introspect -> revoke -> deny in one process', async () => {
    const config = upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: mkdtempSync(join(tmpdir(), 'ctp-up-')) });
    const ctp = await startCtp(config, createLogger('test'));
    try {
      const issued = (await postJson(`${ctp.url}/issue`, GUIDE_ENVELOPE)).body as { token: string; jti: string };
      const introspect = async () => (await postJson(`${ctp.url}/introspect`, { token: issued.token, context_envelope: GUIDE_ENVELOPE })).body;
      expect(await introspect()).toMatchObject({ decision: 'allow' });
      expect((await postJson(`${ctp.url}/revoke`, { jti: issued.jti })).body).toEqual({ status: 'ok', revoked: issued.jti });
      expect(await introspect()).toMatchObject({ decision: 'deny', reason: 'revoked' });
      expect(banner(config, ctp.url)).toMatch(/event bus: in-process; revocation list: in-process[\s\S]*DEV MODE/);
    } finally {
      await ctp.close();
    }
  });

  it('documents its configuration in the README', () => {
    expectReadmeDocuments(upConfigSchema);
  });
});
