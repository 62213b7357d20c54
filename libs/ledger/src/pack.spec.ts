import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Deflate, deflateSync, strFromU8, strToU8, unzipSync, Zip, ZipDeflate, zipSync } from 'fflate';
import { MemoryBus } from '@ctp/bus';
import { auditorAuth, baseUrl, close, createLogger, createServiceApp, listen } from '@ctp/http';
import { LEDGER_VERIFICATION_CODES, LedgerVerificationError, NoteSigner, verifyPack } from '@ctp/ledger-core';
import { AuditorRegistry, generateApiKey } from '@ctp/partners';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded';
import { LEDGER_STREAM_SPEC, ledgerSubject, REVOCATION_STREAM_SPEC } from '@ctp/events';
import { buildPack } from './pack_export';
import { downloadPack, verifyPackFile } from './pack_files';
import { ledgerRouter } from './router';
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
  pack = await buildPack({ store, view: writer, verifiers: [signer.verifier], origin: 'ctp.test/ledger' }, from, to);
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
    expect(error).toBeInstanceOf(LedgerVerificationError);
    return (error as LedgerVerificationError).code;
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
    const sub = await buildPack({ store, view: writer, verifiers: [signer.verifier], origin: 'ctp.test/ledger' }, new Date(entry20), to);
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

/** A zip of `members` in order, as written: names may repeat. */
function rezip(members: [string, Uint8Array][]): Uint8Array {
  const out: Uint8Array[] = [];
  const zip = new Zip((error, chunk) => {
    if (error) throw error;
    out.push(chunk);
  });
  for (const [name, data] of members) {
    const file = new ZipDeflate(name, { level: 6 });
    zip.add(file);
    file.push(data, true);
  }
  zip.end();
  return Buffer.concat(out);
}
const genuine = () => Object.entries(unzipSync(pack)) as [string, Uint8Array][];
const MiB = 1024 * 1024;
/** 256 MiB of one byte, deflated once (about 256 KB), to splice into zips as a member's data. */
const bombs = new Map<number, Uint8Array>();
function bomb(byte: number): Uint8Array {
  let deflated = bombs.get(byte);
  if (!deflated) {
    const parts: Uint8Array[] = [];
    const deflate = new Deflate({ level: 9 }, (chunk) => void parts.push(chunk));
    const chunk = new Uint8Array(MiB).fill(byte);
    for (let i = 0; i < 256; i++) deflate.push(chunk, i === 255);
    bombs.set(byte, (deflated = Buffer.concat(parts)));
  }
  return deflated;
}
/** `size` bytes with little-endian fields [offset, bytes, value] set, the rest zero. */
function le(size: number, fields: [number, 2 | 4, number][]): Buffer {
  const out = Buffer.alloc(size);
  for (const [at, bytes, value] of fields) {
    if (bytes === 2) out.writeUInt16LE(value, at);
    else out.writeUInt32LE(value, at);
  }
  return out;
}
/** The pack with one member's data replaced by a 256 MiB bomb, written as a zip by hand (deflated data spliced in as it is). */
function withBomb(member: string, byte: number): Uint8Array {
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of genuine()) {
    const deflated = name === member ? bomb(byte) : deflateSync(data);
    const size = name === member ? 256 * MiB : data.length;
    const fileName = Buffer.from(name);
    // Local header and central directory record (APPNOTE 4.3.7, 4.3.12): version, method 8, sizes, name length, offset.
    local.push(le(30, [[0, 4, 0x04034b50], [4, 2, 20], [8, 2, 8], [18, 4, deflated.length], [22, 4, size], [26, 2, fileName.length]]), fileName, Buffer.from(deflated));
    central.push(le(46, [[0, 4, 0x02014b50], [4, 2, 20], [6, 2, 20], [10, 2, 8], [20, 4, deflated.length], [24, 4, size], [28, 2, fileName.length], [42, 4, offset]]), fileName);
    offset += 30 + fileName.length + deflated.length;
  }
  const cd = Buffer.concat(central);
  const count = genuine().length;
  return Buffer.concat([...local, cd, le(22, [[0, 4, 0x06054b50], [8, 2, count], [10, 2, count], [12, 4, cd.length], [16, 4, offset]])]);
}

describe('compliance pack verification is bounded and names every failure', () => {
  it.each<[string, string, number, string]>([
    ['entries.jsonl of 256 MiB without a newline', 'entries.jsonl', 0x61, 'too_large'],
    ['entries.jsonl of 256 MiB of newlines', 'entries.jsonl', 0x0a, 'entry_count'],
    ['checkpoints.jsonl of 256 MiB', 'checkpoints.jsonl', 0x20, 'too_large'],
    ['manifest.json of 256 MiB', 'manifest.json', 0x20, 'too_large'],
    ['inclusion_proofs.jsonl of 256 MiB of newlines', 'inclusion_proofs.jsonl', 0x0a, 'bad_inclusion_proof'],
  ])('refuses a small zip whose %s, without inflating it', (_name, member, byte, expected) => {
    const zip = withBomb(member, byte);
    expect(zip.length).toBeLessThan(MiB);
    const heap = process.memoryUsage().heapUsed;
    expect(failure(zip)).toBe(expected);
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(64 * MiB);
  });

  it('refuses a member that inflates beyond the size the central directory declares', () => {
    const zip = Buffer.from(rezip(genuine()));
    // Shrink the declared size of entries.jsonl in the central directory (offset 24 of its record).
    const name = Buffer.from('entries.jsonl');
    const record = zip.lastIndexOf(Buffer.concat([Buffer.from([0x50, 0x4b, 0x01, 0x02])]), zip.lastIndexOf(name));
    zip.writeUInt32LE(100, record + 24);
    expect(failure(zip)).toBe('too_large');
  });

  it('refuses a zip that names a file twice, even when the last copy is genuine', () => {
    const forged = strToU8('{"not":"the entries"}\n');
    const files = genuine();
    expect(failure(rezip([...files.map(([n, d]): [string, Uint8Array] => [n, n === 'entries.jsonl' ? forged : d]), ['entries.jsonl', unzipSync(pack)['entries.jsonl']!]]))).toBe('duplicate_member');
    expect(failure(rezip([...files, ['manifest.json', unzipSync(pack)['manifest.json']!]]))).toBe('duplicate_member');
  });

  it('names a documented code for malformed lines instead of a JSON error', () => {
    const edited = (name: string, text: string) => rezip(genuine().map(([n, d]) => [n, n === name ? strToU8(text) : d]));
    expect(failure(edited('checkpoints.jsonl', 'not json\n'))).toBe('bad_checkpoint');
    expect(failure(edited('checkpoints.jsonl', '{"size":"x"}\n'))).toBe('bad_checkpoint');
    expect(failure(edited('inclusion_proofs.jsonl', '{"seq":1,"proof":"x"}\n'))).toBe('bad_inclusion_proof');
    expect(failure(edited('verifiers.txt', 'not a key\n'))).toBe('bad_key');
    expect(failure(edited('manifest.json', '{"format":"ctp-compliance-pack/2","frontier":7}'))).toBe('bad_manifest');
    expect(failure(edited('entry_hashes.txt', strFromU8(unzipSync(pack)['entry_hashes.txt']!).replace(/^[^\n]+/, 'xyz')))).toBe('broken_chain');
  });

  it('fails every random corruption with a documented code, never an uncaught error', () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const codes = new Set<string>();
    for (let i = 0; i < 300; i++) {
      let zip = Buffer.from(pack);
      if (i % 3 === 0) {
        for (let k = 0; k < 1 + random(4); k++) zip[random(zip.length)]! ^= 1 << random(8);
      } else if (i % 3 === 1) {
        const files = genuine();
        const index = random(files.length);
        const bytes = Buffer.from(files[index]![1]);
        const at = random(Math.max(1, bytes.length));
        files[index] = [files[index]![0], Buffer.concat([bytes.subarray(0, at), Buffer.from([random(256)]), bytes.subarray(at + 1 + random(3))])];
        zip = Buffer.from(rezip(files));
      } else {
        zip = zip.subarray(0, random(zip.length));
      }
      let code = 'ok';
      try {
        verifyPack(zip, { trustedKeys: [signer.verifier] });
      } catch (error) {
        expect(error).toBeInstanceOf(LedgerVerificationError);
        code = (error as LedgerVerificationError).code;
      }
      codes.add(code);
    }
    // A flipped bit may land where nothing is checked (a README byte, a zip timestamp); everything else fails, by a documented name.
    for (const code of codes) expect(code === 'ok' || code in LEDGER_VERIFICATION_CODES).toBe(true);
    expect(codes.size).toBeGreaterThan(4);
  });

  it('verifies a pack file from disk a slice at a time, and names a file it cannot open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctp-pack-'));
    try {
      writeFileSync(join(dir, 'pack.zip'), pack);
      expect((await verifyPackFile(join(dir, 'pack.zip'), { trustedKeys: [signer.verifier] })).entries).toBe(40);
      await expect(verifyPackFile(join(dir, 'missing.zip'), {})).rejects.toMatchObject({ code: 'unreadable' });
      writeFileSync(join(dir, 'bomb.zip'), withBomb('entries.jsonl', 0x61));
      await expect(verifyPackFile(join(dir, 'bomb.zip'), { trustedKeys: [signer.verifier] })).rejects.toMatchObject({ code: 'too_large' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('streams an export to disk for an auditor only, and leaves no file when it is refused', async () => {
    const auditor = generateApiKey('audit-firm');
    const auditors = new AuditorRegistry([{ id: 'audit-firm', name: 'Audit Firm', api_key_hashes: [auditor.hash] }]);
    const router = ledgerRouter({ store, view: writer, verifiers: [signer.verifier], origin: 'ctp.test/ledger', auditorAuth: auditorAuth({ auditors, devMode: false }) });
    const server = await listen(createServiceApp({ logger: createLogger('pack-test'), readiness: {}, routers: [router] }), 0, '127.0.0.1');
    const dir = mkdtempSync(join(tmpdir(), 'ctp-export-'));
    try {
      const url = `${baseUrl(server)}/ledger/export?from=${from.toISOString()}&to=${to.toISOString()}`;
      const refused = await downloadPack(url, join(dir, 'refused.zip'));
      expect([refused.status, readdirSync(dir)]).toEqual([401, []]);
      const progress: number[] = [];
      const ok = await downloadPack(url, join(dir, 'pack.zip'), { headers: { authorization: `Bearer ${auditor.apiKey}` }, onProgress: (bytes) => progress.push(bytes) });
      expect(ok.status).toBe(200);
      expect(progress[progress.length - 1]).toBe(ok.bytes);
      expect([existsSync(join(dir, 'pack.zip.part')), (await verifyPackFile(join(dir, 'pack.zip'), { trustedKeys: [signer.verifier] })).entries]).toEqual([false, 40]);
    } finally {
      await close(server);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
