import type { Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CtpClient, createLocalValidator, type LocalValidator } from '@ctp/sdk';
import { freePort, startService, type ServiceProcess } from '@ctp/testing';
import { createDemoApp, type DemoOptions } from './app';

export interface DemoWorld {
  ctp: ServiceProcess;
  validator: LocalValidator;
  /** Starts a demo partner app on a free port against this CTP. */
  demo(options?: Pick<DemoOptions, 'consentSeconds'>): Promise<string>;
  stop(): Promise<void>;
}

/** `ctp up` (its own process, dev mode) and demo partner apps in this process, as `npm run demo` runs them. */
export async function startDemoWorld(): Promise<DemoWorld> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const ctp = await startService(['apps/ctp/bin/ctp.js', 'up'], { CTP_PORT: String(port), CTP_ISSUER: url, CTP_DATA_DIR: mkdtempSync(join(tmpdir(), 'ctp-demo-')) }, { readyTimeoutMs: 60_000 });
  const client = new CtpClient({ baseUrl: url });
  const validator = createLocalValidator({ baseUrl: url });
  await validator.ready(15_000);
  const servers: Server[] = [];
  return {
    ctp,
    validator,
    demo: async (options = {}) => {
      const app = await createDemoApp({ client, validator, ...options });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      servers.push(server);
      return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    },
    stop: async () => {
      for (const s of servers) {
        s.closeAllConnections();
        s.close();
      }
      await validator.close();
      await ctp.stop();
    },
  };
}
