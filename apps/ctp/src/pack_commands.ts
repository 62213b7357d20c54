import { readFileSync, writeFileSync } from 'node:fs';
import { NoteVerifier, PackVerificationError, verifyPackWithAnchors, type AnchoredPackSummary } from '@ctp/ledger-core';
import { baseUrl } from './key_commands';
import { request, type Output } from './output';

/** A progress bar on stderr: redrawn in place on a terminal, a line per 10% otherwise (CI logs). */
function progress(): (done: number, total: number) => void {
  let lastDecile = -1;
  return (done, total) => {
    if (total < 10_000) return;
    const pct = Math.floor((done / total) * 100);
    if (process.stderr.isTTY) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      process.stderr.write(`\rverifying entries [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${pct}% ${done}/${total}${done === total ? '\n' : ''}`);
    } else if (Math.floor(pct / 10) > lastDecile) {
      lastDecile = Math.floor(pct / 10);
      process.stderr.write(`verifying entries: ${pct}% (${done}/${total})\n`);
    }
  };
}

function anchorLines(s: AnchoredPackSummary): string {
  if (s.anchors.length === 0) return '  anchors:       none (no RFC 3161 timestamp covers a checkpoint in this pack)';
  if (!s.anchorsChecked) {
    return `  anchors:       ${s.anchors.length} RFC 3161 token(s) UNCHECKED (checkpoints ${s.anchors.map((a) => a.checkpointSize).join(', ')})
  WARNING: no --tsa-root given; pin the TSA's root certificate to check the timestamps.`;
  }
  return `  anchors:       ${s.anchors.length} RFC 3161 token(s) verify to the pinned TSA root:${s.anchors.map((a) => `
                 checkpoint ${a.checkpointSize} at ${a.genTime} by ${a.tsa} (policy ${a.policy})`).join('')}`;
}

/** A failed verification: the code names the check (PackVerificationError codes, or `unreadable`). */
function failed(output: Output, code: string, message: string): number {
  if (output.json) console.log(JSON.stringify({ ok: false, code, message }));
  else console.error(`FAIL ${code}: ${message}`);
  return 1;
}

/**
 * `ctp verify pack.zip --key vkey... [--tsa-root root.pem]`: offline; exit 0 only if everything verifies.
 * Without keys (the CLI demands --insecure-no-key for that) the pack is checked against its own keys.
 */
export async function verifyCommand(path: string, keys: string[], tsaRootPath: string | undefined, output: Output): Promise<number> {
  let zip: Buffer;
  let tsaRoots: string | undefined;
  try {
    zip = readFileSync(path);
    tsaRoots = tsaRootPath === undefined ? undefined : readFileSync(tsaRootPath, 'utf8');
  } catch (error) {
    return failed(output, 'unreadable', (error as Error).message);
  }
  try {
    const trustedKeys = keys.length > 0 ? keys.map((k) => NoteVerifier.parse(k)) : undefined;
    const started = performance.now();
    const s = await verifyPackWithAnchors(zip, { trustedKeys, tsaRoots, onProgress: output.json ? () => undefined : progress() });
    const seconds = (performance.now() - started) / 1000;
    if (output.json) {
      console.log(JSON.stringify({ ok: true, pack: path, ...s, seconds: Number(seconds.toFixed(3)) }));
      return 0;
    }
    console.log(`OK ${path}
  origin:        ${s.origin}
  range:         ${s.range.from} .. ${s.range.to}
  entries:       ${s.entries} (seq ${s.firstSeq}..${s.lastSeq}): canonical, gap-free, hash chain intact
  merkle:        every entry is contained in signed checkpoint ${s.checkpointSize}
  checkpoints:   ${s.checkpoints} signed by ${s.signedBy.join(', ')}, each consistent with the previous
  inclusion:     ${s.inclusionProofs} sampled inclusion proofs verify
${anchorLines(s)}
  verified in:   ${seconds.toFixed(2)} s`);
    if (!s.pinnedKeys) console.log('  WARNING: --insecure-no-key: checked against the keys inside the pack. Pin the operator\'s published key to rule out a forged pack.');
    return 0;
  } catch (error) {
    return failed(output, error instanceof PackVerificationError ? error.code : 'invalid', (error as Error).message);
  }
}

/**
 * `ctp export --from --to [--out] [--url]`: asks a running service for the pack of a time range and
 * writes it to a file.
 */
export async function exportCommand(options: { from: string; to: string; out?: string; url?: string }, output: Output): Promise<number> {
  const url = `${baseUrl(options.url)}/ledger/export?from=${encodeURIComponent(options.from)}&to=${encodeURIComponent(options.to)}`;
  const res = await request(url);
  if (!res.ok) {
    const body = await res.text();
    if (output.json) console.log(JSON.stringify({ ok: false, url, status: res.status, body }));
    else console.error(`export failed: GET ${url} answered HTTP ${res.status} ${body}`);
    return 1;
  }
  const out = options.out ?? `ctp-pack-${options.from.slice(0, 10)}-${options.to.slice(0, 10)}.zip`;
  const pack = Buffer.from(await res.arrayBuffer());
  writeFileSync(out, pack);
  if (output.json) console.log(JSON.stringify({ ok: true, out, bytes: pack.length }));
  else console.log(`wrote ${out} (${pack.length} bytes); check it with: ctp verify ${out} --key <verifier key from GET /ledger/verifiers>`);
  return 0;
}
