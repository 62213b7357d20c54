import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus } from '@ctp/bus';
import { NoteSigner } from '@ctp/ledger-core';
import { LedgerStore, LedgerWriter, loadCheckpointSigners } from '@ctp/ledger';
import { ensurePartitions, hotPartitions, monthStart, partitionName } from '@ctp/ledger/internal';
import { PG_URL } from '@ctp/testing';
import { retentionCommand } from './ledger_commands';

const ORIGIN = 'ctp.test/retention-cli';

describe('ctp ledger retention', () => {
  const root = mkdtempSync(join(tmpdir(), 'ctp-retention-cli-'));
  const schema = `ledger_cli_${randomBytes(4).toString('hex')}`;
  const env = {
    CTP_DATABASE_URL: PG_URL,
    CTP_DATABASE_SCHEMA: schema,
    CTP_LEDGER_ORIGIN: ORIGIN,
    CTP_LEDGER_KEY_DIR: join(root, 'keys'),
    CTP_LEDGER_WARM_DIR: join(root, 'warm'),
    CTP_LEDGER_COLD_DIR: join(root, 'cold'),
  };
  const old = monthStart(new Date(), -5);
  let store: LedgerStore;
  let out: string[];
  beforeAll(async () => {
    const signers = loadCheckpointSigners(env.CTP_LEDGER_KEY_DIR, ORIGIN, false);
    store = await LedgerStore.open(PG_URL, { schema });
    await ensurePartitions(store.sql, old, 0);
    await store.append([1, 2, 3].map((i) => ({ eventId: `old-${i}`, type: 'consent.issued', data: { purpose: 'p' } })), new Date(old.getTime() + 9 * 86_400_000));
    await store.append([{ eventId: 'new-1', type: 'consent.issued', data: { purpose: 'p' } }]);
    const writer = new LedgerWriter({ store, bus: new MemoryBus(), signers, origin: ORIGIN });
    await writer.load();
    await writer.checkpoint();
  });
  beforeEach(() => {
    out = [];
    jest.spyOn(console, 'log').mockImplementation((line: string) => void out.push(line));
    jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(async () => {
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses to drop a partition whose checkpoint is not signed by the pinned key', async () => {
    const stranger = new NoteSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
    await expect(retentionCommand({ key: [stranger.verifier.toString()] }, env)).rejects.toThrow(/does not verify after writing: checkpoint \d+: signature by|is not signed by/);
    expect((await hotPartitions(store.sql)).map((p) => p.name)).toContain(partitionName(old));
    expect(Number((await store.sql`SELECT count(*) AS n FROM ledger_entries`)[0]!.n)).toBe(4);
  });

  it('seals months older than 90 days with the writer key, and is a no-op the second time', async () => {
    expect(await retentionCommand({}, env)).toBe(0);
    expect(out.join('\n')).toContain(`sealed to warm:  ${partitionName(old)}`);
    expect(out.join('\n')).toContain('entries:         hot 1, warm 3, cold 0, expired 0');
    expect(readdirSync(env.CTP_LEDGER_WARM_DIR)).toContain(`${partitionName(old)}.0000.jsonl.gz`);
    expect((await store.entry(2))?.entry.event_id).toBe('old-2');
    out = [];
    expect(await retentionCommand({}, env)).toBe(0);
    expect(out.join('\n')).toContain('sealed to warm:  none');
  });
});
