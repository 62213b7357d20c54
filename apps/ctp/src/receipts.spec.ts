import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { ReceiptForwarder, SqliteReceiptStore } from '@ctp/guard';
import { createLogger } from '@ctp/http';
import { NoteVerifier, verifyInclusion, verifyPack } from '@ctp/ledger-core';
import { generateApiKey } from '@ctp/partners';
import { CtpClient } from '@ctp/sdk';
import { freePort, ledgerRoles, NATS_URL, OpenApiContract, ownLedgerConsumer, PG_URL, waitFor, writePartnersFile, type LedgerRoles } from '@ctp/testing';
import { upConfigSchema } from './config';
import { startCtp, type RunningCtp } from './up';

const contract = new OpenApiContract();

/** GET /receipts/{id}'s answer (openapi ReceiptEvidence), as far as this test reads it. */
interface Evidence {
  receipt: unknown;
  ledger: { entry: unknown; leaf_hash: string };
  inclusion: { leaf_index: number; tree_size: number; leaf_hash: string; proof: string[] } | null;
  checkpoint: { size: number; root: string; note: string } | null;
}
const b64 = (s: string) => Buffer.from(s, 'base64');

function receiptInput(i: number) {
  return {
    decision: i % 5 === 0 ? ('deny' as const) : ('allow' as const),
    reason: i % 5 === 0 ? 'signature_invalid' : 'ok',
    method: 'POST',
    path: `/v1/infer/${i}`,
    contentDigest: 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
    jti: null,
    algs: ['ES256', 'ML-DSA-65'],
    breakerState: 'closed' as const,
    policyId: 'binding.writes-channel,binding.writes-key',
    policyHash: 'c'.repeat(64),
    at: Date.now(),
  };
}

describe('guard receipts: local SQLite store -> POST /receipts -> ledger, exactly once (ctp up on PostgreSQL and NATS)', () => {
  const acme = generateApiKey('acme');
  const globex = generateApiKey('globex');
  const auditor = generateApiKey('audit-firm');
  const dir = mkdtempSync(join(tmpdir(), 'ctp-receipts-'));
  const schema = `receipts_${randomBytes(4).toString('hex')}`;
  let roles: LedgerRoles;
  let ctp: RunningCtp;
  let admin: postgres.Sql;
  const ledgerCount = async () => Number((await admin.unsafe(`SELECT count(*) AS n FROM ${schema}.ledger_entries WHERE type = 'guard.receipt'`))[0]!.n);
  const distinctCount = async () => Number((await admin.unsafe(`SELECT count(DISTINCT event_id) AS n FROM ${schema}.ledger_entries WHERE type = 'guard.receipt'`))[0]!.n);

  beforeAll(async () => {
    roles = await ledgerRoles(PG_URL, schema);
    admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
    const partnersFile = writePartnersFile(join(dir, 'partners.json'), [{ id: 'acme', hash: acme.hash }, { id: 'globex', hash: globex.hash }], [{ id: 'audit-firm', hash: auditor.hash }]);
    ctp = await startCtp(
      upConfigSchema.parse({
        CTP_PORT: '0',
        CTP_DATA_DIR: join(dir, 'ctp'),
        CTP_PARTNERS_FILE: partnersFile,
        CTP_DEV_MODE: 'false',
        CTP_NATS_URL: NATS_URL,
        CTP_DATABASE_URL: roles.writerUrl,
        CTP_DATABASE_OWNER_URL: roles.ownerUrl,
        CTP_DATABASE_SCHEMA: schema,
        ...ownLedgerConsumer(`ledger-${schema}`),
        CTP_LEDGER_BATCH_WAIT_MS: '20',
        CTP_LEDGER_CHECKPOINT_INTERVAL_MS: '200',
      }),
      createLogger('test'),
    );
  }, 60_000);

  afterAll(async () => {
    await ctp?.close();
    await admin?.end({ timeout: 2 });
    await roles?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps receipts while CTP is unreachable, forwards them all once it is back, and a re-sent batch is stored once', async () => {
    const path = join(dir, 'guard.db');
    let store = new SqliteReceiptStore({ path });
    const ids = Array.from({ length: 230 }, (_, i) => store.record(receiptInput(i)));

    // CTP unreachable: nothing is acknowledged, nothing is lost.
    const down = new CtpClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, apiKey: acme.apiKey, retry: { retries: 0 } });
    const offline = new ReceiptForwarder({ store, send: (r) => down.forwardReceipts(r) });
    await expect(offline.flush()).rejects.toMatchObject({ code: 'network' });
    expect(store.counts()).toEqual({ total: 230, pending: 230 });

    // CTP answers but the acknowledgement of the first batch is lost: it stays pending and goes again.
    const client = new CtpClient({ baseUrl: ctp.url, apiKey: acme.apiKey });
    let lose = true;
    const lossy = new ReceiptForwarder({
      store,
      send: async (r) => {
        const acks = await client.forwardReceipts(r);
        if (lose) {
          lose = false;
          throw new Error('connection reset before the answer');
        }
        return acks;
      },
    });
    await expect(lossy.flush()).rejects.toThrow(/connection reset/);
    expect(store.counts().pending).toBe(230);

    // The guard restarts (a new store on the same file) and forwards everything.
    store.close();
    store = new SqliteReceiptStore({ path });
    const forwarder = new ReceiptForwarder({ store, send: (r) => client.forwardReceipts(r) });
    expect(await forwarder.flush()).toBe(230);
    expect(store.counts()).toEqual({ total: 230, pending: 0 });
    expect(store.get(ids[7]!)).toMatchObject({ ledgerEventId: `guard.receipt:acme:${ids[7]}`, forwardedAt: expect.any(Number) });

    // The whole set sent again by hand: acknowledged again, stored once.
    const again = await client.forwardReceipts(store.between(0, Date.now() + 1000).slice(0, 100).map((r) => r.receipt));
    expect(again.map((a) => a.id)).toEqual(ids.slice(0, 100));
    await waitFor(async () => (await ledgerCount()) === 230, 15_000, '230 receipts in the ledger');
    await new Promise((r) => setTimeout(r, 500));
    expect(await ledgerCount()).toBe(230);
    expect(await distinctCount()).toBe(230);
    store.close();
  }, 60_000);

  it('serves a receipt with its ledger entry and an inclusion proof that verifies against the signed checkpoint; only to its partner', async () => {
    const store = new SqliteReceiptStore({ path: ':memory:' });
    const id = store.record(receiptInput(1));
    const client = new CtpClient({ baseUrl: ctp.url, apiKey: acme.apiKey });
    await new ReceiptForwarder({ store, send: (r) => client.forwardReceipts(r) }).flush();
    const get = (key: string, rid = id) => fetch(`${ctp.url}/receipts/${rid}`, { headers: { authorization: `Bearer ${key}` } });
    let body = {} as Evidence;
    await waitFor(async () => {
      const res = await get(acme.apiKey);
      body = (await res.json()) as Evidence;
      return res.status === 200 && body.inclusion !== null;
    }, 15_000, 'the receipt under a signed checkpoint');
    contract.validate('GET', '/receipts/{id}', 200, 'application/json', body);
    expect(body.receipt).toEqual(store.get(id)!.receipt);
    expect(body.ledger.entry).toMatchObject({ type: 'guard.receipt', event_id: `guard.receipt:acme:${id}`, data: { receipt_id: id, partner_id: 'acme' } });
    const inclusion = body.inclusion!;
    const checkpoint = body.checkpoint!;
    expect(inclusion.tree_size).toBe(checkpoint.size);
    expect(inclusion.leaf_hash).toBe(body.ledger.leaf_hash);
    expect(verifyInclusion(inclusion.leaf_index, inclusion.tree_size, b64(inclusion.leaf_hash), inclusion.proof.map(b64), b64(checkpoint.root))).toBe(true);
    expect(checkpoint.note).toContain(checkpoint.root);

    const other = await get(globex.apiKey);
    expect(other.status).toBe(404);
    contract.validate('GET', '/receipts/{id}', 404, other.headers.get('content-type')!, await other.json());
    expect((await get(acme.apiKey, 'not-a-uuid')).status).toBe(400);
    expect((await fetch(`${ctp.url}/receipts/${id}`)).status).toBe(401);
    store.close();
  }, 30_000);

  it('POST /receipts validates at the edge: unknown fields, a query in the path, too many receipts, no credential', async () => {
    const post = (body: unknown, key: string | null = acme.apiKey) =>
      fetch(`${ctp.url}/receipts`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify(body) });
    const store = new SqliteReceiptStore({ path: ':memory:' });
    const receipt = store.get(store.record(receiptInput(3)))!.receipt;
    for (const [body, field] of [
      [{ receipts: [{ ...receipt, email: 'a@b.c' }] }, 'receipts[0].email'],
      [{ receipts: [{ ...receipt, path: '/v1/infer?user=alice' }] }, 'receipts[0].path'],
      [{ receipts: Array.from({ length: 101 }, () => receipt) }, 'receipts'],
      [{ receipts: [] }, 'receipts'],
    ] as const) {
      const res = await post(body);
      const problem = (await res.json()) as { code: string; errors: { field: string }[] };
      contract.validate('POST', '/receipts', res.status, res.headers.get('content-type')!, problem);
      expect([res.status, problem.code, problem.errors[0]!.field]).toEqual([400, 'validation_failed', field]);
    }
    expect((await post({ receipts: [receipt] }, null)).status).toBe(401);
    const ok = await post({ receipts: [receipt] });
    const answer = await ok.json();
    contract.validate('POST', '/receipts', ok.status, ok.headers.get('content-type')!, answer);
    expect(answer).toEqual({ receipts: [{ id: receipt.id, event_id: `guard.receipt:acme:${receipt.id}` }] });
    for (const path of ['/receipts/', '/Receipts']) expect((await fetch(`${ctp.url}${path}`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${ctp.url}/receipts`)).status).toBe(405);
    store.close();
  });

  it('compliance packs carry the receipts, and verifying a pack checks each one', async () => {
    const since = new Date(Date.now() - 3600_000).toISOString();
    // Every receipt forwarded so far (the last test's too) is in the ledger before the export.
    await waitFor(async () => (await ledgerCount()) === 232, 15_000, 'every receipt in the ledger');
    const expected = await ledgerCount();
    let pack: Uint8Array | undefined;
    let last = '';
    await waitFor(async () => {
      const until = new Date(Date.now() + 1000).toISOString();
      const res = await fetch(`${ctp.url}/ledger/export?from=${since}&to=${until}`, { headers: { authorization: `Bearer ${auditor.apiKey}` } });
      if (res.status !== 200) {
        last = `${res.status} ${await res.text()}`;
        return false;
      }
      pack = new Uint8Array(await res.arrayBuffer());
      last = JSON.stringify(verifyPack(pack));
      return verifyPack(pack).receipts === expected;
    }, 15_000, 'a pack holding every receipt').catch((error: Error) => {
      throw new Error(`${error.message}: ${last}`);
    });
    const keys = ((await (await fetch(`${ctp.url}/ledger/verifiers`)).json()) as { keys: { vkey: string }[] }).keys.map((k) => NoteVerifier.parse(k.vkey));
    expect(verifyPack(pack!, { trustedKeys: keys })).toMatchObject({ receipts: expected, pinnedKeys: true });
  }, 30_000);
});
