// `ctp verify` speed (verifyPackFile: offline, streaming, bounded memory) on a realistic pack.
// Builds the pack once (PostgreSQL, a schema of its own) unless it is already there, then
// times verifyPackFile (median of 3) and reports peak RSS growth over the baseline.
// Run: npm run bench:verify [-- --entries 200000 --dir /tmp/verify-bench --rebuild]
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NoteSigner, NoteVerifier } from '@ctp/ledger-core';
import { buildPack, LedgerStore, LedgerWriter, verifyPackFile } from '@ctp/ledger';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const ENTRIES = Number(arg('entries', '200000'));
const DIR = arg('dir', '/tmp/verify-bench');
const PG_URL = process.env.CTP_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PACK = join(DIR, 'pack.zip');
const VKEY = join(DIR, 'pack.vkey');
const BATCH = 4000;
/** A signed checkpoint every this many entries (a pack carries the chain of them). */
const CHECKPOINT_EVERY = 20_000;

async function generate(): Promise<void> {
  const origin = 'ctp.bench/verify';
  const signer = new NoteSigner(origin, generateKeyPairSync('ed25519').privateKey);
  const run = randomBytes(4).toString('hex');
  const store = await LedgerStore.open(PG_URL, { schema: `bench_verify_${run}`, max: 4 });
  try {
    // Appended directly (no bus): the writer only keeps the tree and signs checkpoints.
    const writer = new LedgerWriter({ store, bus: undefined as never, signers: [signer], origin });
    const from = new Date(Date.now() - 60_000);
    for (let n = 0; n < ENTRIES; n += BATCH) {
      const events = Array.from({ length: Math.min(BATCH, ENTRIES - n) }, (_, j) => {
        const jti = `${run}-${n + j}`;
        return { eventId: `consent.issued:${jti}`, type: 'consent.issued', data: { jti, purpose: 'customer_retention', sub: 'pseudonym', scope: ['tone.read'] } };
      });
      await store.append(events);
      if ((n + BATCH) % CHECKPOINT_EVERY === 0 || n + BATCH >= ENTRIES) {
        await writer.reader.catchUp();
        await writer.checkpoint();
      }
    }
    const pack = await buildPack({ store, view: writer, verifiers: signer.verifiers, origin }, from, new Date(Date.now() + 60_000));
    mkdirSync(DIR, { recursive: true });
    writeFileSync(PACK, pack);
    writeFileSync(VKEY, `${signer.verifier.toString()}\n`);
    console.log(`wrote ${PACK} (${(pack.length / 1e6).toFixed(1)} MB, ${ENTRIES} entries) and ${VKEY}`);
  } finally {
    // The pack file is what the measurement reads; the schema that produced it is not kept.
    await store.sql.unsafe(`DROP SCHEMA IF EXISTS bench_verify_${run} CASCADE`).catch(() => undefined);
    await store.close();
  }
}

async function main() {
  if (process.argv.includes('--rebuild') || !existsSync(PACK)) {
    await generate();
    // Measured in a fresh process: the generator's heap would hide the verifier's RSS growth.
    const args = [...process.execArgv, ...process.argv.slice(1).filter((a) => a !== '--rebuild')];
    process.exit(spawnSync(process.execPath, args, { stdio: 'inherit' }).status ?? 1);
  }
  const trustedKeys = [NoteVerifier.parse(readFileSync(VKEY, 'utf8').trim())];
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
  const runs: number[] = [];
  let entries = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const summary = await verifyPackFile(PACK, { trustedKeys, onProgress: sample });
    runs.push((performance.now() - t) / 1000);
    entries = summary.entries;
    sample();
  }
  const median = [...runs].sort((a, b) => a - b)[1]!;
  console.log(
    JSON.stringify({
      entries,
      seconds: runs.map((s) => Math.round(s * 1000) / 1000),
      median_s: Math.round(median * 1000) / 1000,
      entries_per_s: Math.round(entries / median),
      peak_rss_growth_mb: Math.round((peak - baseline) / 1e5) / 10,
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
