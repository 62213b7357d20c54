import { closeSync, createWriteStream, fstatSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { failVerification, verifyPackWithAnchors, type AnchoredPackSummary, type ByteSource, type NoteVerifier } from '@ctp/ledger-core';

/** A pack file read a slice at a time (ledger-core's verifier reads zips through ByteSource, never whole). */
function fileSource(fd: number): ByteSource {
  return {
    size: fstatSync(fd).size,
    read: (offset, length) => {
      const buffer = Buffer.alloc(length);
      const n = readSync(fd, buffer, 0, length, offset);
      return buffer.subarray(0, n);
    },
  };
}

/**
 * `ctp verify`: verifies the pack at `path` with memory bounded by a constant, whatever
 * its size (the file is read in slices, each member inflated in small steps). A file
 * that cannot be opened fails as `unreadable`, like a broken zip.
 */
export async function verifyPackFile(path: string, options: { trustedKeys?: NoteVerifier[]; tsaRoots?: string; onProgress?: (done: number, total: number) => void }): Promise<AnchoredPackSummary> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    return failVerification('unreadable', `${path}: ${(error as Error).message}`);
  }
  try {
    return await verifyPackWithAnchors(fileSource(fd), options);
  } finally {
    closeSync(fd);
  }
}

/**
 * `ctp export`: streams the pack a service serves at `url` to `out`, reporting the bytes
 * written; the file appears only complete (written as `<out>.part`, then renamed).
 * Returns the HTTP status and, when it is not 200, the response text.
 */
export async function downloadPack(
  url: string,
  out: string,
  options: { headers?: Record<string, string>; onProgress?: (bytes: number) => void } = {},
): Promise<{ status: number; error?: string; bytes: number }> {
  const res = await fetch(url, { headers: options.headers });
  if (res.status !== 200 || !res.body) return { status: res.status, error: await res.text(), bytes: 0 };
  const part = `${out}.part`;
  const file = createWriteStream(part, { mode: 0o640 });
  let bytes = 0;
  try {
    for await (const chunk of res.body) {
      bytes += chunk.length;
      if (!file.write(chunk)) await once(file, 'drain');
      options.onProgress?.(bytes);
    }
    file.end();
    await once(file, 'finish');
  } catch (error) {
    file.destroy();
    rmSync(part, { force: true });
    throw error;
  }
  renameSync(part, out);
  return { status: 200, bytes };
}
