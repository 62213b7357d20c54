import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { MemoryBus } from '@ctp/bus';
import { certificatesFromPem, NoteSigner, LedgerVerificationError, timestampRequest, verifyPackWithAnchors, verifyTimestampResponse, type PackAnchor } from '@ctp/ledger-core';
import { registry } from '@ctp/telemetry/internal';
import { createTestCa, freePort, PG_URL, startTestTsa, waitFor, type TestCa, type TestTsa } from '@ctp/testing';
import { Anchorer, listAnchors } from './anchor';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded';
import { LEDGER_STREAM_SPEC, ledgerSubject, REVOCATION_STREAM_SPEC } from '@ctp/events';
import { buildPack } from './pack_export';
import { LedgerStore } from './store';
import { LedgerWriter } from './writer';

const origin = 'ctp.test/ledger';
const signer = new NoteSigner(origin, generateKeyPairSync('ed25519').privateKey);
let tsa: TestTsa;
let otherCa: TestCa;
let embedded: EmbeddedPostgres;

beforeAll(async () => {
  [tsa, otherCa, embedded] = await Promise.all([startTestTsa(), createTestCa('Some Other Root'), startEmbeddedPostgres()]);
});
afterAll(async () => {
  await tsa.close();
  rmSync(otherCa.dir, { recursive: true, force: true });
  await embedded.close();
});

const metric = async (result: string) => {
  const line = (await registry.getSingleMetricAsString('ctp_ledger_anchors_total')).split('\n').find((l) => l.startsWith(`ctp_ledger_anchors_total{result="${result}"}`));
  return line ? Number(line.split(' ')[1]) : 0;
};

function packFailure(zip: Uint8Array, tsaRoots: string): Promise<LedgerVerificationError> {
  return verifyPackWithAnchors(zip, { trustedKeys: [signer.verifier], tsaRoots }).then(
    () => {
      throw new Error('the pack verified');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(LedgerVerificationError);
      return error as LedgerVerificationError;
    },
  );
}

function editAnchors(zip: Uint8Array, edit: (anchors: PackAnchor[]) => void): Uint8Array {
  const files = unzipSync(zip);
  const anchors = strFromU8(files['anchors.jsonl']!).trim().split('\n').map((l) => JSON.parse(l) as PackAnchor);
  edit(anchors);
  files['anchors.jsonl'] = strToU8(anchors.map((a) => `${JSON.stringify(a)}\n`).join(''));
  return zipSync(files);
}

describe.each([
  ['PostgreSQL', () => ({ url: PG_URL, max: 4 })],
  ['PGlite (embedded)', () => ({ url: embedded.url, max: 1 })],
])('RFC 3161 anchoring on %s', (_name, db) => {
  const schema = `ledger_anchor_${randomBytes(4).toString('hex')}`;
  const bus = new MemoryBus();
  let store: LedgerStore;
  let writer: LedgerWriter;
  let published = 0;
  const publish = async (n: number) => {
    for (let i = 0; i < n; i++, published++) await bus.publish(ledgerSubject('consent.issued'), { event_id: `${schema}-${published}`, type: 'consent.issued', jti: `00000000-0000-4000-8000-${String(published).padStart(12, '0')}` });
  };

  beforeAll(async () => {
    const { url, max } = db();
    store = await LedgerStore.open(url, { schema, max });
    await bus.ensureStreams([LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC]);
    writer = new LedgerWriter({ store, bus, signers: [signer], origin, maxWaitMs: 10, checkpointIntervalMs: 100 });
    await writer.start();
  });
  afterAll(async () => {
    await writer.stop();
    await store.sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await store.close();
  });

  it('anchors checkpoints on schedule; the pack carries the tokens and verifies them to the pinned TSA root', async () => {
    const errors: unknown[] = [];
    const anchorer = new Anchorer({ store, latest: () => writer.checkpointed, tsaUrl: tsa.url, roots: certificatesFromPem(tsa.ca.rootPem), intervalMs: 1000, retryMs: 50, onError: (e) => errors.push(e) });
    await anchorer.start();
    try {
      await publish(10);
      await waitFor(async () => (await listAnchors(store.sql)).length >= 1, 20_000, 'a first anchor');
      await publish(10);
      // A later checkpoint gets its own anchor at the next period.
      await waitFor(async () => (await listAnchors(store.sql)).length >= 2, 20_000, 'a second anchor');
    } finally {
      await anchorer.stop();
    }
    expect(errors).toEqual([]);
    const anchors = await listAnchors(store.sql);
    const checkpoints = await store.checkpoints();
    for (const a of anchors) {
      expect(checkpoints.map((c) => c.size)).toContain(a.checkpointSize);
      expect(a).toMatchObject({ tsaUrl: tsa.url, policy: '1.3.6.1.4.1.55555.1.1' });
      expect(a.token[0]).toBe(0x30);
    }
    // Anchoring the same checkpoint again returns the stored anchor and asks the TSA nothing.
    const asked = tsa.requests;
    const again = new Anchorer({ store, latest: () => checkpoints.find((c) => c.size === anchors[0]!.checkpointSize)!, tsaUrl: tsa.url, roots: certificatesFromPem(tsa.ca.rootPem) });
    expect((await again.anchorNow())!.serial).toBe(anchors[0]!.serial);
    expect(tsa.requests).toBe(asked);
    // Append-only, like the rest of the ledger.
    await expect(store.sql`UPDATE ledger_anchors SET policy = 'x'`).rejects.toThrow(/append-only/);
    await expect(store.sql`DELETE FROM ledger_anchors`).rejects.toThrow(/append-only/);
    await expect(store.sql`TRUNCATE ledger_anchors`).rejects.toThrow(/append-only/);
    const [grants] = await store.sql`SELECT ${store.sql.unsafe(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'].map((p) => `has_table_privilege('ctp_ledger_writer', 'ledger_anchors', '${p}') AS ${p.toLowerCase()}`).join(', '))}`;
    expect(grants).toEqual({ select: true, insert: true, update: false, delete: false, truncate: false });

    const pack = await buildPack({ store, view: writer, verifiers: [signer.verifier], origin }, new Date(Date.now() - 600_000), new Date(Date.now() + 600_000));
    const summary = await verifyPackWithAnchors(pack, { trustedKeys: [signer.verifier], tsaRoots: tsa.ca.rootPem });
    expect(summary.anchorsChecked).toBe(true);
    expect(summary.anchors.map((a) => a.checkpointSize)).toEqual(anchors.map((a) => a.checkpointSize));
    expect(summary.anchors[0]).toMatchObject({ tsa: expect.stringContaining('CN=CTP Test TSA') as unknown, policy: '1.3.6.1.4.1.55555.1.1' });
    expect(Date.parse(summary.anchors[0]!.genTime)).toBeGreaterThan(Date.now() - 600_000);

    // Without a pinned root the anchors are reported unchecked, not passed.
    const unpinned = await verifyPackWithAnchors(pack, { trustedKeys: [signer.verifier] });
    expect(unpinned.anchorsChecked).toBe(false);
    expect(unpinned.anchors).toHaveLength(anchors.length);

    const first = anchors[0]!.checkpointSize;
    const wrongRoot = await packFailure(pack, otherCa.rootPem);
    expect(wrongRoot.code).toBe('bad_anchor');
    expect(wrongRoot.message).toMatch(new RegExp(`^anchor for checkpoint ${first}: the TSA certificate does not chain to a trusted root`));

    const tampered = editAnchors(pack, (list) => {
      const token = Buffer.from(list[0]!.token, 'base64');
      token[token.length - 3]! ^= 0x01; // inside the ECDSA signature, the last field of the token
      list[0]!.token = token.toString('base64');
    });
    expect((await packFailure(tampered, tsa.ca.rootPem)).message).toMatch(new RegExp(`^anchor for checkpoint ${first}: the token signature does not verify`));

    const swapped = editAnchors(pack, (list) => {
      list[0]!.token = list[1]!.token;
    });
    expect((await packFailure(swapped, tsa.ca.rootPem)).message).toMatch(new RegExp(`^anchor for checkpoint ${first}: the token covers other data: its imprint is not SHA-256 of this checkpoint note`));

    const forgedNote = editAnchors(pack, (list) => {
      list[0]!.note = list[0]!.note.replace(`\n${first}\n`, `\n${first + 1}\n`);
      list[0]!.checkpoint_size = first + 1;
    });
    expect((await packFailure(forgedNote, tsa.ca.rootPem)).message).toMatch(/its checkpoint note does not verify/);

    const inconsistent = editAnchors(pack, (list) => {
      list[0]!.consistency = list[0]!.consistency.slice(1);
    });
    expect((await packFailure(inconsistent, tsa.ca.rootPem)).message).toMatch(new RegExp(`^anchor for checkpoint ${first}: the checkpoint is not consistent with signed checkpoint`));
  });

  it('keeps appending while the TSA is down, retries with backoff, and anchors once it is back', async () => {
    const port = await freePort();
    const failures: number[] = [];
    const failedBefore = await metric('failed');
    const anchorer = new Anchorer({ store, latest: () => writer.checkpointed, tsaUrl: `http://127.0.0.1:${port}/tsa`, roots: certificatesFromPem(tsa.ca.rootPem), intervalMs: 1000, retryMs: 20, maxRetryMs: 200, onError: (_e, attempt) => failures.push(attempt) });
    const sizeBefore = writer.tree.size;
    await publish(5);
    await waitFor(() => writer.checkpointed!.size >= sizeBefore + 5, 20_000, 'a checkpoint of the new entries');
    await anchorer.start();
    let back: TestTsa | undefined;
    try {
      await waitFor(() => failures.length >= 3, 20_000, 'three failed attempts');
      expect(failures.slice(0, 3)).toEqual([1, 2, 3]);
      // Appends and checkpoints go on regardless.
      await publish(5);
      await waitFor(() => writer.checkpointed!.size >= sizeBefore + 10, 20_000, 'appends while the TSA is down');
      expect(await metric('failed')).toBeGreaterThanOrEqual(failedBefore + 3);
      back = await startTestTsa({ ca: tsa.ca, port });
      await waitFor(async () => (await listAnchors(store.sql, sizeBefore + 10)).length === 1, 20_000, 'an anchor after the TSA came back');
    } finally {
      await anchorer.stop();
      await back?.close();
    }
  });
});

describe('RFC 3161 replies', () => {
  it('refuses a token from a TSA certificate whose timeStamping usage is not critical', async () => {
    const faulty = await startTestTsa({ ca: tsa.ca, eku: 'non-critical' });
    try {
      const note = `${origin}\n1\n${Buffer.alloc(32).toString('base64')}\n\n— x AAAA\n`;
      const request = timestampRequest(note);
      const reply = Buffer.from(await (await fetch(faulty.url, { method: 'POST', headers: { 'Content-Type': 'application/timestamp-query' }, body: request.der })).arrayBuffer());
      await expect(verifyTimestampResponse(reply, { note, nonce: request.nonce, roots: certificatesFromPem(tsa.ca.rootPem) })).rejects.toThrow(/does not mark extendedKeyUsage critical/);

      const schema = `ledger_anchor_${randomBytes(4).toString('hex')}`;
      const store = await LedgerStore.open(PG_URL, { schema });
      try {
        const root = Buffer.alloc(32, 7);
        await store.addCheckpoint({ size: 1, root, note, previousSize: null, consistency: [], createdAt: new Date() });
        const anchorer = new Anchorer({ store, latest: () => ({ size: 1, root, note, previousSize: null, consistency: [], createdAt: new Date() }), tsaUrl: faulty.url, roots: certificatesFromPem(tsa.ca.rootPem) });
        await expect(anchorer.anchorNow()).rejects.toThrow(/anchoring checkpoint 1 at .* failed: the TSA certificate CN=CTP Test TSA faulty does not mark extendedKeyUsage critical/);
        expect(await listAnchors(store.sql)).toEqual([]);
      } finally {
        await store.sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
        await store.close();
      }
    } finally {
      await faulty.close();
    }
  });

  it('checks the nonce and the imprint of a fresh reply', async () => {
    const note = `${origin}\n2\n${Buffer.alloc(32, 1).toString('base64')}\n\n— x AAAA\n`;
    const request = timestampRequest(note);
    const reply = Buffer.from(await (await fetch(tsa.url, { method: 'POST', headers: { 'Content-Type': 'application/timestamp-query' }, body: request.der })).arrayBuffer());
    const roots = certificatesFromPem(tsa.ca.rootPem);
    const ok = await verifyTimestampResponse(reply, { note, nonce: request.nonce, roots });
    expect(ok.result).toMatchObject({ policy: '1.3.6.1.4.1.55555.1.1', chainVerified: true });
    await expect(verifyTimestampResponse(reply, { note, nonce: Buffer.from('0102030405060708', 'hex'), roots })).rejects.toThrow(/nonce/);
    await expect(verifyTimestampResponse(reply, { note: note.replace('\n2\n', '\n3\n'), nonce: request.nonce, roots })).rejects.toThrow(/covers other data/);
    await expect(verifyTimestampResponse(Buffer.from('not der'), { note, nonce: request.nonce, roots })).rejects.toThrow(/not a TimeStampResp/);
  });
});
