import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

export interface EmbeddedPostgres {
  url: string;
  close(): Promise<void>;
}

/**
 * PGlite served over the PostgreSQL wire protocol on loopback, so the ledger's
 * postgres.js code runs unchanged in `ctp up`. It runs on a worker thread: PGlite
 * is PostgreSQL compiled to WASM, and on the main thread every append would stall
 * request handling. PGlite serves one session: connect with max: 1. `dataDir`
 * persists the database; without it, it lives in memory.
 */
export async function startEmbeddedPostgres(dataDir?: string): Promise<EmbeddedPostgres> {
  const worker = new Worker(join(__dirname, 'embedded_worker.cjs'), { workerData: { dataDir } });
  const address = await new Promise<string>((resolve, reject) => {
    worker.once('message', (m: { address?: string; error?: string }) => (m.address ? resolve(m.address) : reject(new Error(`embedded PostgreSQL failed: ${m.error}`))));
    worker.once('error', reject);
  });
  return {
    url: `postgres://postgres@${address}/postgres`,
    close: async () => {
      const closed = new Promise<void>((resolve) => worker.once('message', () => resolve()));
      worker.postMessage('close');
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
      await worker.terminate();
    },
  };
}
