// Serves the ledger proof API over a Merkle tree of N synthetic leaves, in its own
// process so the load generator does not share its event loop. Prints the URL.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { MemoryBus } from '@ctp/bus';
import { createLogger, createServiceApp, listen } from '@ctp/http';
import { leafHash, NoteSigner } from '@ctp/ledger-core';
import { ledgerRouter, LedgerStore, LedgerWriter } from '@ctp/ledger';

async function main() {
  const size = Number(process.argv[2] ?? 1_000_000);
  const schema = `bench_proofs_${randomBytes(3).toString('hex')}`;
  const store = await LedgerStore.open(process.env.CTP_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', { schema, max: 1 });
  // The bench ends this process with SIGTERM: its (empty) schema goes with it, not left in the database.
  process.once('SIGTERM', () => {
    void store.sql
      .unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      .catch(() => undefined)
      .finally(() => store.close().finally(() => process.exit(0)));
  });
  const signer = new NoteSigner('ctp.bench/ledger', generateKeyPairSync('ed25519').privateKey);
  const writer = new LedgerWriter({ store, bus: new MemoryBus(), signers: [signer], origin: 'ctp.bench/ledger' });
  const started = performance.now();
  for (let i = 0; i < size; i++) writer.tree.append(leafHash(Buffer.from(`entry ${i}`)));
  // Steady state: a writer that has been up for a while has long collected the garbage of its
  // start-up rebuild (ledger.ts starts this process with --expose-gc for this one call).
  (globalThis as { gc?: () => void }).gc?.();
  const app = createServiceApp({ logger: createLogger('bench'), readiness: {}, routers: [ledgerRouter({ store, view: writer, verifiers: [signer.verifier], origin: 'ctp.bench/ledger' })] });
  const server = await listen(app, 0, '127.0.0.1');
  console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, build_seconds: (performance.now() - started) / 1000 }));
}

void main();
