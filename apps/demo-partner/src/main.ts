import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { CtpClient, createLocalValidator } from '@ctp/sdk';
import { createDemoApp } from './app';

/**
 * `npm run demo`: starts `ctp up` (dev mode, on CTP_PORT, default 8000) unless CTP_URL names a
 * running CTP, then the demo partner on DEMO_PORT (default 3000). CTP_API_KEY is the partner key
 * (not needed against dev mode).
 */
async function main() {
  const root = resolve(__dirname, '../../..');
  let ctp: ChildProcess | undefined;
  let ctpUrl = process.env.CTP_URL;
  if (!ctpUrl) {
    const port = process.env.CTP_PORT ?? '8000';
    ctpUrl = `http://127.0.0.1:${port}`;
    ctp = spawn(process.execPath, [join(root, 'apps/ctp/bin/ctp.js'), 'up'], {
      cwd: root,
      env: { ...process.env, CTP_PORT: port, CTP_ISSUER: process.env.CTP_ISSUER ?? ctpUrl, CTP_DATA_DIR: process.env.CTP_DATA_DIR ?? join(root, 'var/demo-ctp') },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    ctp.once('exit', (code) => {
      console.error(`ctp up exited (${code}); stopping the demo`);
      process.exit(1);
    });
    const deadline = Date.now() + 30_000;
    while (!(await fetch(`${ctpUrl}/readyz`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error(`ctp up did not become ready on ${ctpUrl}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const apiKey = process.env.CTP_API_KEY;
  const client = new CtpClient({ baseUrl: ctpUrl, apiKey });
  const validator = createLocalValidator({ baseUrl: ctpUrl, apiKey, issuer: process.env.CTP_ISSUER ?? ctpUrl, onError: (e) => console.warn(`revocation channel: ${(e as Error).message}`) });
  await validator.ready(15_000);
  const app = await createDemoApp({ client, validator, onError: (e) => console.warn(`funnel event not recorded: ${(e as Error).message}`) });
  const port = Number(process.env.DEMO_PORT ?? 3000);
  const server = app.listen(port, '127.0.0.1', () => console.log(`Demo partner on http://127.0.0.1:${port} (CTP at ${ctpUrl}); Ctrl-C stops both`));
  const stop = () => {
    server.close();
    void validator.close();
    ctp?.kill('SIGTERM');
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
