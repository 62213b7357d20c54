import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { MemoryBus } from '@ctp/bus';
import { NoteSigner, PackVerificationError, verifyPack } from '@ctp/ledger-core';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded';
import { LEDGER_STREAM_SPEC, ledgerSubject, REVOCATION_STREAM_SPEC } from '@ctp/events';
import { buildPack } from './pack_export';
import { LedgerStore } from './store';
import { LedgerWriter } from './writer';

const signer = new NoteSigner('ctp.test/ledger', generateKeyPairSync('ed25519').privateKey);
let embedded: EmbeddedPostgres;
let store: LedgerStore;
let writer: LedgerWriter;
let pack: Uint8Array;
const bus = new MemoryBus();
const from = new Date(Date.now() - 60_000);
const to = new Date(Date.now() + 60_000);

beforeAll(async () => {
  embedded = await startEmbeddedPostgres();
  store = await LedgerStore.open(embedded.url, { schema: `pack_${randomBytes(4).toString('hex')}`, max: 1 });
  await bus.ensureStreams([LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC]);
  writer = new LedgerWriter({ store, bus, signers: [signer], origin: 'ctp.test/ledger', maxWaitMs: 20, checkpointIntervalMs: 60_000 });
  await writer.start();
  for (let i = 0; i < 40; i++) {
    await bus.publish(ledgerSubject('consent.issued'), { event_id: `e${i}`, type: 'consent.issued', jti: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` });
    if (i % 13 === 12) await writer.checkpoint();
  }
  const deadline = Date.now() + 10_000;
  while (writer.tree.size < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  pack = await buildPack({ store, writer, signers: [signer], origin: 'ctp.test/ledger' }, from, to);
});
afterAll(async () => {
  await writer.stop();
  await store.close();
  await embedded.close();
});

type Files = Record<string, Uint8Array>;
function tamper(edit: (files: Files) => void): Uint8Array {
  const files = unzipSync(pack);
  edit(files);
  return zipSync(files);
}
const editText = (files: Files, name: string, edit: (text: string) => string) => {
  files[name] = strToU8(edit(strFromU8(files[name]!)));
};
function failure(zip: Uint8Array): string {
  try {
    verifyPack(zip, { trustedKeys: [signer.verifier] });
  } catch (error) {
    expect(error).toBeInstanceOf(PackVerificationError);
    return (error as PackVerificationError).code;
  }
  throw new Error('the tampered pack verified');
}

describe('compliance pack', () => {
  it('verifies offline against the pinned key: every entry, the chain, and inclusion in the signed checkpoint', () => {
    const summary = verifyPack(pack, { trustedKeys: [signer.verifier] });
    expect(summary).toMatchObject({ entries: 40, firstSeq: 1, lastSeq: 40, checkpointSize: 40, inclusionProofs: 40, signedBy: ['ctp.test/ledger'], pinnedKeys: true });
  });

  it('verifies a later sub-range through the frontier and a consistency proof, and catches a forged frontier', async () => {
    const entry20 = (await store.entry(20))!.entry.recorded_at;
    const sub = await buildPack({ store, writer, signers: [signer], origin: 'ctp.test/ledger' }, new Date(entry20), to);
    const summary = verifyPack(sub, { trustedKeys: [signer.verifier] });
    expect(summary.firstSeq).toBeGreaterThan(1);
    expect(summary.lastSeq).toBe(40);
    const files = unzipSync(sub);
    const manifest = JSON.parse(strFromU8(files['manifest.json']!)) as { frontier: string[] };
    manifest.frontier[0] = Buffer.alloc(32).toString('base64');
    files['manifest.json'] = strToU8(JSON.stringify(manifest));
    expect(failure(zipSync(files))).toBe('not_in_checkpoint');
  });

  it.each<[string, (files: Files) => void, string]>([
    ['a flipped byte in an entry', (f) => editText(f, 'entries.jsonl', (t) => t.replace('consent.issued', 'consent.issuer')), 'broken_chain'],
    ['an entry no longer in canonical form', (f) => editText(f, 'entries.jsonl', (t) => t.replace('{"data":', '{ "data":')), 'bad_entry'],
    ['a dropped entry', (f) => editText(f, 'entries.jsonl', (t) => t.split('\n').filter((_, i) => i !== 5).join('\n')), 'entry_count'],
    [
      'reordered entries',
      (f) =>
        editText(f, 'entries.jsonl', (t) => {
          const lines = t.split('\n');
          [lines[3], lines[4]] = [lines[4]!, lines[3]!];
          return lines.join('\n');
        }),
      'entry_order',
    ],
    [
      'an entry re-canonicalised after a value change, with its hashes recomputed',
      (f) => editText(f, 'entries.jsonl', (t) => t.replace('"e7"', '"x7"')),
      'broken_chain',
    ],
    [
      'a checkpoint swapped for one from another log',
      (f) =>
        editText(f, 'checkpoints.jsonl', (t) => {
          // NoteSigner.sign is async (keys may live in a key service); this edit is synchronous, so it signs the line itself.
          const otherKey = generateKeyPairSync('ed25519').privateKey;
          const other = new NoteSigner('ctp.test/ledger', otherKey);
          const lines = t.trim().split('\n').map((l) => JSON.parse(l) as { note: string });
          const last = lines[lines.length - 1]!;
          const text = `${last.note.split('\n\n')[0]}\n`;
          last.note = `${text}\n— ctp.test/ledger ${Buffer.concat([other.verifier.id, sign(null, Buffer.from(text), otherKey)]).toString('base64')}\n`;
          return `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
        }),
      'bad_signature',
    ],
    [
      'a forged checkpoint signature',
      // Always a different character: replacing one that already is 'A' would change nothing.
      (f) => editText(f, 'checkpoints.jsonl', (t) => t.replace(/(— ctp\.test\/ledger [A-Za-z0-9+/]{10})([A-Za-z0-9+/])/, (_m, head: string, c: string) => head + (c === 'A' ? 'B' : 'A'))),
      'bad_signature',
    ],
    [
      'a checkpoint root changed and re-signed by a different key',
      (f) => editText(f, 'verifiers.txt', () => `${new NoteSigner('ctp.test/ledger', generateKeyPairSync('ed25519').privateKey).verifier.toString()}\n`),
      'ok-with-pinned-key',
    ],
  ])('catches %s', (_name, edit, code) => {
    if (code === 'ok-with-pinned-key') {
      // Replacing the pack's own key list changes nothing when the auditor pins the real key.
      expect(verifyPack(tamper(edit), { trustedKeys: [signer.verifier] }).entries).toBe(40);
      return;
    }
    expect(failure(tamper(edit))).toBe(code);
  });

  it('catches a truncated zip', () => {
    expect(failure(pack.subarray(0, Math.floor(pack.length * 0.7)))).toBe('unreadable');
  });
});
