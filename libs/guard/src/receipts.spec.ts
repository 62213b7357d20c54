import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sampleReceipt } from './__fixtures__/receipts';
import { SqliteReceiptStore } from './receipts';

describe('SqliteReceiptStore', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'receipts-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps receipts in a WAL-mode SQLite file, each under a new UUID, in the wire form', () => {
    const store = new SqliteReceiptStore({ path: join(dir, 'r.db') });
    try {
      expect(store.journalMode).toBe('wal');
      const id = store.record(sampleReceipt({ method: 'post' }));
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(existsSync(join(dir, 'r.db-wal'))).toBe(true);
      expect(store.get(id)).toEqual({
        seq: 1,
        forwardedAt: null,
        ledgerEventId: null,
        receipt: {
          id,
          decision: 'allow',
          reason: 'ok',
          method: 'POST',
          path: '/v1/infer',
          content_digest: 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
          jti: '0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e',
          algs: ['ES256', 'ML-DSA-65'],
          breaker_state: 'closed',
          policy_id: 'binding.writes-channel,binding.writes-key',
          policy_hash: 'a'.repeat(64),
          at: 1_765_000_000_000,
        },
      });
      expect(store.get('ffffffff-ffff-4fff-bfff-ffffffffffff')).toBeNull();
    } finally {
      store.close();
    }
  });

  it('refuses what CTP would refuse (so no receipt can block forwarding), and stores nothing for it', () => {
    const store = new SqliteReceiptStore({ path: ':memory:' });
    expect(() => store.record(sampleReceipt({ path: '/x?email=a@b.c' }))).toThrow(/path/); // never a query: it may carry personal data
    expect(() => store.record(sampleReceipt({ path: 'no-slash' }))).toThrow(/path/);
    expect(() => store.record(sampleReceipt({ jti: 'not-a-uuid' }))).toThrow(/jti/);
    expect(() => store.record(sampleReceipt({ policyHash: 'xyz' }))).toThrow(/policy_hash/);
    expect(() => store.record(sampleReceipt({ reason: 'Has Spaces' }))).toThrow(/reason/);
    expect(() => store.record(sampleReceipt({ path: `/${'a'.repeat(2048)}` }))).toThrow(/path/);
    expect(store.counts()).toEqual({ total: 0, pending: 0 });
    store.close();
  });

  it('hands out pending receipts oldest first and marks acknowledged ones forwarded, once', () => {
    const store = new SqliteReceiptStore({ path: ':memory:' });
    const ids = [1, 2, 3, 4, 5].map((i) => store.record(sampleReceipt({ at: 1_765_000_000_000 + i })));
    expect(store.pending(3).map((r) => r.receipt.id)).toEqual(ids.slice(0, 3));
    expect(store.acknowledge([{ id: ids[0]!, event_id: `guard.receipt:p:${ids[0]}` }, { id: ids[2]!, event_id: 'e3' }], 42)).toBe(2);
    expect(store.acknowledge([{ id: ids[0]!, event_id: 'again' }])).toBe(0);
    expect(store.get(ids[0]!)).toMatchObject({ forwardedAt: 42, ledgerEventId: `guard.receipt:p:${ids[0]}` });
    expect(store.pending(10).map((r) => r.receipt.id)).toEqual([ids[1], ids[3], ids[4]]);
    expect(store.counts()).toEqual({ total: 5, pending: 3 });
    expect(store.between(1_765_000_000_002, 1_765_000_000_004).map((r) => r.receipt.id)).toEqual([ids[1], ids[2]]);
    store.close();
  });

  it('keeps every receipt whose id record() returned when the process is killed right after (SIGKILL)', () => {
    const path = join(dir, 'killed.db');
    const script = join(dir, 'writer.ts');
    writeFileSync(
      script,
      `import { SqliteReceiptStore } from ${JSON.stringify(resolve(__dirname, 'receipts.ts'))};
       import { sampleReceipt } from ${JSON.stringify(resolve(__dirname, '__fixtures__/receipts.ts'))};
       const store = new SqliteReceiptStore({ path: ${JSON.stringify(path)} });
       for (let i = 0; i < 50; i++) process.stdout.write(store.record(sampleReceipt({ at: ${Date.now()} + i })) + '\\n');
       process.kill(process.pid, 'SIGKILL');`,
    );
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: resolve(__dirname, '../../..'), encoding: 'utf8' });
    expect(child.signal).toBe('SIGKILL');
    const ids = child.stdout.trim().split('\n');
    expect(ids).toHaveLength(50);
    const store = new SqliteReceiptStore({ path });
    try {
      expect(ids.every((id) => store.get(id) !== null)).toBe(true);
      expect(store.counts()).toEqual({ total: 50, pending: 50 });
    } finally {
      store.close();
    }
  });
});
