import { readFileSync, writeFileSync } from 'node:fs';
import { NoteVerifier, PackVerificationError, verifyPackWithAnchors, type AnchoredPackSummary } from '@ctp/ledger-core';

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

/** `ctp verify pack.zip [--key vkey]... [--tsa-root root.pem]`: offline; exit 0 only if everything verifies. */
export async function verifyCommand(path: string, keys: string[], tsaRootPath?: string): Promise<number> {
  let zip: Buffer;
  let tsaRoots: string | undefined;
  try {
    zip = readFileSync(path);
    tsaRoots = tsaRootPath === undefined ? undefined : readFileSync(tsaRootPath, 'utf8');
  } catch (error) {
    console.error(`FAIL unreadable: ${(error as Error).message}`);
    return 1;
  }
  try {
    const trustedKeys = keys.length > 0 ? keys.map((k) => NoteVerifier.parse(k)) : undefined;
    const started = performance.now();
    const s = await verifyPackWithAnchors(zip, { trustedKeys, tsaRoots, onProgress: progress() });
    const seconds = (performance.now() - started) / 1000;
    console.log(`OK ${path}
  origin:        ${s.origin}
  range:         ${s.range.from} .. ${s.range.to}
  entries:       ${s.entries} (seq ${s.firstSeq}..${s.lastSeq}): canonical, gap-free, hash chain intact
  merkle:        every entry is contained in signed checkpoint ${s.checkpointSize}
  checkpoints:   ${s.checkpoints} signed by ${s.signedBy.join(', ')}, each consistent with the previous
  inclusion:     ${s.inclusionProofs} sampled inclusion proofs verify
${anchorLines(s)}
  verified in:   ${seconds.toFixed(2)} s`);
    if (!s.pinnedKeys) console.log('  WARNING: no --key given; checked against the keys inside the pack. Pin the operator\'s published key to rule out a forged pack.');
    return 0;
  } catch (error) {
    if (error instanceof PackVerificationError) console.error(`FAIL ${error.code}: ${error.message}`);
    else console.error(`FAIL ${(error as Error).message}`);
    return 1;
  }
}

/** `ctp export --from --to [--out] [--url]`: asks a running service for a pack. */
export async function exportCommand(options: { from?: string; to?: string; out?: string; url?: string }): Promise<number> {
  if (!options.from || !options.to) {
    console.error('usage: ctp export --from <RFC 3339 time> --to <RFC 3339 time> [--out pack.zip] [--url http://127.0.0.1:8000]');
    return 2;
  }
  const base = options.url ?? process.env.CTP_URL ?? 'http://127.0.0.1:8000';
  const res = await fetch(`${base}/ledger/export?from=${encodeURIComponent(options.from)}&to=${encodeURIComponent(options.to)}`);
  if (!res.ok) {
    console.error(`export failed: HTTP ${res.status} ${await res.text()}`);
    return 1;
  }
  const out = options.out ?? `ctp-pack-${options.from.slice(0, 10)}-${options.to.slice(0, 10)}.zip`;
  writeFileSync(out, Buffer.from(await res.arrayBuffer()));
  console.log(`wrote ${out}; check it with: ctp verify ${out} --key <verifier key from GET /ledger/verifiers>`);
  return 0;
}
