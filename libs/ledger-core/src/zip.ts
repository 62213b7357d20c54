import { Inflate } from 'fflate';
import { failVerification, LedgerVerificationError } from './errors';

/**
 * Random access to the bytes of a zip archive: a buffer in memory, or a file that the
 * caller reads a slice at a time (libs/ledger packFileSource), so a pack of any size is
 * read with constant memory.
 */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

export interface ZipMember {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  /** Inflated size as the central directory declares it; reading never produces more. */
  size: number;
  /** Where the member's (compressed) data starts. */
  dataOffset: number;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** Compressed bytes handed to the inflater at once: deflate expands at most ~1032:1, so a push inflates to 16 MiB at most (fewer, larger pushes: the inflater copies its 32 KiB window on each). */
const CHUNK = 16 * 1024;
const MAX_MEMBERS = 64;

const unreadable = (why: string): never => failVerification('unreadable', `not a readable zip archive (${why})`);
const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/**
 * A zip archive read through its central directory, bounded against hostile input:
 * the directory is checked before any member is read (each name once: duplicate_member;
 * no encryption, zip64 or unknown compression; no member data outside the archive or
 * overlapping another: unreadable), and every member inflates in small steps, never
 * beyond its declared size or the caller's limit (too_large).
 */
export class ZipReader {
  private readonly members = new Map<string, ZipMember>();

  constructor(private readonly source: ByteSource) {
    const tailLength = Math.min(source.size, 22 + 0xffff);
    const tail = source.read(source.size - tailLength, tailLength);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (u32(tail, i) === EOCD && i + 22 + u16(tail, i + 20) === tail.length) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) unreadable('no end of central directory: truncated?');
    const count = u16(tail, eocd + 10);
    const cdSize = u32(tail, eocd + 12);
    const cdOffset = u32(tail, eocd + 16);
    if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) unreadable('zip64, which CTP does not write');
    if (count > MAX_MEMBERS) failVerification('too_large', `the archive has ${count} members; CTP writes fewer than ${MAX_MEMBERS}`);
    if (cdOffset + cdSize > source.size - tailLength + eocd) unreadable('the central directory lies outside the archive');
    const cd = source.read(cdOffset, cdSize);
    const spans: [number, number][] = [];
    let at = 0;
    const names = new TextDecoder('utf-8', { fatal: true });
    for (let i = 0; i < count; i++) {
      if (at + 46 > cd.length || u32(cd, at) !== CENTRAL) unreadable('a broken central directory');
      const flags = u16(cd, at + 8);
      const method = u16(cd, at + 10);
      const compressedSize = u32(cd, at + 20);
      const size = u32(cd, at + 24);
      const nameLength = u16(cd, at + 28);
      const next = at + 46 + nameLength + u16(cd, at + 30) + u16(cd, at + 32);
      const localOffset = u32(cd, at + 42);
      if (next > cd.length) unreadable('a broken central directory');
      let name: string;
      try {
        name = names.decode(cd.subarray(at + 46, at + 46 + nameLength));
      } catch {
        return unreadable('a member name is not UTF-8');
      }
      if (flags & 1) unreadable(`${name} is encrypted`);
      if (method !== 0 && method !== 8) unreadable(`${name} uses compression method ${method}`);
      if (compressedSize === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff) unreadable('zip64, which CTP does not write');
      if (this.members.has(name)) failVerification('duplicate_member', `the archive holds ${name} twice`);
      const local = source.read(localOffset, 30);
      if (local.length < 30 || u32(local, 0) !== LOCAL || u16(local, 26) !== nameLength) unreadable(`the local header of ${name} does not match the central directory`);
      const dataOffset = localOffset + 30 + nameLength + u16(local, 28);
      if (dataOffset + compressedSize > cdOffset) unreadable(`${name} runs into the central directory`);
      spans.push([localOffset, dataOffset + compressedSize]);
      this.members.set(name, { name, method, compressedSize, size, dataOffset });
      at = next;
    }
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) unreadable('members overlap');
  }

  get(name: string): ZipMember | undefined {
    return this.members.get(name);
  }

  /** The member's inflated bytes, in order, in chunks; refused beyond `maxBytes` or its declared size. */
  *chunks(member: ZipMember, maxBytes: number): Generator<Uint8Array> {
    if (member.size > maxBytes) failVerification('too_large', `${member.name} declares ${member.size} bytes; at most ${maxBytes} are expected`);
    const out: Uint8Array[] = [];
    let produced = 0;
    const take = (chunk: Uint8Array) => {
      produced += chunk.length;
      if (produced > member.size) failVerification('too_large', `${member.name} inflates beyond its declared ${member.size} bytes`);
      out.push(chunk);
    };
    const inflater = member.method === 8 ? new Inflate((chunk) => take(chunk)) : undefined;
    let read = 0;
    do {
      const length = Math.min(CHUNK, member.compressedSize - read);
      const raw = this.source.read(member.dataOffset + read, length);
      if (raw.length !== length) unreadable(`${member.name} is cut short`);
      read += length;
      try {
        if (inflater) inflater.push(raw, read >= member.compressedSize);
        else take(raw);
      } catch (error) {
        if (error instanceof LedgerVerificationError) throw error;
        return unreadable(`${member.name}: ${(error as Error).message}`);
      }
      yield* out.splice(0);
    } while (read < member.compressedSize);
    if (produced !== member.size) unreadable(`${member.name} inflates to ${produced} bytes, not the declared ${member.size}`);
  }

  /** The member's lines (without the newline), each at most `maxLine` bytes; the last must end in a newline. */
  *lines(member: ZipMember, options: { maxBytes: number; maxLine: number }): Generator<Buffer> {
    let carry: Buffer = Buffer.alloc(0);
    const tooLong = () => failVerification('too_large', `${member.name} has a line longer than ${options.maxLine} bytes`);
    for (const chunk of this.chunks(member, options.maxBytes)) {
      const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      let start = 0;
      for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
        // Checked on every line, not only on a chunk's unfinished tail: one push may inflate a whole over-long line.
        if (nl - start > options.maxLine) tooLong();
        yield data.subarray(start, nl);
        start = nl + 1;
      }
      if (data.length - start > options.maxLine) tooLong();
      carry = Buffer.from(data.subarray(start));
    }
    if (carry.length > 0) failVerification('truncated', `${member.name} does not end with a newline (truncated?)`);
  }

  /** A small member as text (strict UTF-8). */
  text(member: ZipMember, maxBytes: number): string {
    const parts = [...this.chunks(member, maxBytes)];
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(parts));
    } catch {
      return unreadable(`${member.name} is not UTF-8`);
    }
  }
}
