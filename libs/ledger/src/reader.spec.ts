import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { MemoryBus } from '@ctp/bus';
import { NoteSigner, verifyInclusion, verifyPack } from '@ctp/ledger-core';
import { baseUrl, close, createLogger, createServiceApp, listen } from '@ctp/http';
import { PG_URL } from '@ctp/testing';
import { buildPack } from './pack_export';
import { LedgerReader } from './reader';
import { ledgerRouter } from './router';
import { LedgerStore } from './store';
import { LedgerWriter } from './writer';

const ORIGIN = 'ctp.test/reader';
const signer = new NoteSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
const events = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ eventId: `r-${from + i}`, type: 'consent.issued', data: { jti: `jti-${from + i}` } }));

/** The read side apart from the writer: a reader on its own connection serves what the writer would. */
describe('ledger reader (a process that does not append)', () => {
  const schema = `ledger_r_${randomBytes(4).toString('hex')}`;
  let writerStore: LedgerStore;
  let readerStore: LedgerStore;
  let writer: LedgerWriter;
  beforeAll(async () => {
    writerStore = await LedgerStore.open(PG_URL, { schema });
    readerStore = await LedgerStore.open(PG_URL, { schema });
    writer = new LedgerWriter({ store: writerStore, bus: new MemoryBus(), signers: [signer], origin: ORIGIN });
    await writer.load();
  });
  afterAll(async () => {
    await writerStore.close();
    await readerStore.close();
  });

  it('keeps its tree and checkpoint current from the database and serves the same proofs and packs', async () => {
    await writerStore.append(events(0, 12));
    await writer.load();
    await writer.checkpoint();
    const reader = new LedgerReader(readerStore);
    await reader.refresh();
    expect([reader.tree.size, reader.checkpointed?.size]).toEqual([12, 12]);
    expect(reader.tree.root(12)).toEqual(writer.tree.root(12));

    const app = createServiceApp({ logger: createLogger('reader-test'), readiness: {}, routers: [ledgerRouter({ store: readerStore, view: reader, verifiers: [signer.verifier], origin: ORIGIN })] });
    const server = await listen(app, 0, '127.0.0.1');
    try {
      const proof = (await (await fetch(`${baseUrl(server)}/ledger/proofs/inclusion?seq=5`)).json()) as { proof: string[]; leaf_hash: string; tree_size: number };
      expect(proof.proof).toEqual(writer.tree.inclusionProof(4, 12).map((h) => h.toString('base64')));
      expect(verifyInclusion(4, proof.tree_size, Buffer.from(proof.leaf_hash, 'base64'), proof.proof.map((h) => Buffer.from(h, 'base64')), writer.checkpointed!.root)).toBe(true);
    } finally {
      await close(server);
    }

    // More entries, and a checkpoint of them: the reader follows on its period.
    await writerStore.append(events(12, 5));
    const from = new Date(Date.now() - 60_000);
    const to = new Date(Date.now() + 60_000);
    // Not yet checkpointed: a reader's pack ends at the newest signed checkpoint (it cannot sign).
    await reader.refresh();
    expect(verifyPack(await buildPack({ store: readerStore, view: reader, verifiers: [signer.verifier], origin: ORIGIN }, from, to), { trustedKeys: [signer.verifier] })).toMatchObject({ lastSeq: 12, openEnd: true });
    await writer.load();
    await writer.checkpoint();
    reader.start(20, (error) => {
      throw error;
    });
    try {
      const deadline = Date.now() + 10_000;
      while (reader.checkpointed!.size < 17 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect([reader.tree.size, reader.checkpointed!.size]).toEqual([17, 17]);
    } finally {
      await reader.stop();
    }
    expect(verifyPack(await buildPack({ store: readerStore, view: reader, verifiers: [signer.verifier], origin: ORIGIN }, from, to), { trustedKeys: [signer.verifier] }).lastSeq).toBe(17);
  });

  it('refuses a checkpoint its tree does not match', async () => {
    const reader = new LedgerReader(readerStore);
    await reader.refresh();
    const size = reader.tree.size;
    await writerStore.sql`INSERT INTO ledger_checkpoints (size, root, note, previous_size, consistency, created_at) VALUES (${size}, ${Buffer.alloc(32, 1)}, 'forged', null, ${Buffer.alloc(0)}, now())
      ON CONFLICT (size) DO NOTHING`;
    await writerStore.append(events(100, 1));
    await writerStore.sql`INSERT INTO ledger_checkpoints (size, root, note, previous_size, consistency, created_at) VALUES (${size + 1}, ${Buffer.alloc(32, 1)}, 'forged', ${size}, ${Buffer.alloc(0)}, now())`;
    await expect(reader.refresh()).rejects.toThrow(`ledger entries do not match checkpoint ${size + 1}`);
    expect(reader.checkpointed!.size).toBe(size);
  });
});
