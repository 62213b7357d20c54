import { accessSync, constants, readFileSync } from 'node:fs';
import { downloadPack, verifyPackFile } from '@ctp/ledger';
import { LedgerVerificationError, NoteVerifier, type AnchoredPackSummary } from '@ctp/ledger-core';
import { baseUrl } from './key_commands';
import { unreachable, type Output } from './output';

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

/** A failed verification: the code names the check (LedgerVerificationError codes, or `unreadable`). */
function failed(output: Output, code: string, message: string): number {
  if (output.json) console.log(JSON.stringify({ ok: false, code, message }));
  else console.error(`FAIL ${code}: ${message}`);
  return 1;
}

/**
 * `ctp verify pack.zip --key vkey... [--tsa-root root.pem]`: offline, streaming (memory bounded by a constant);
 * exit 0 only if everything verifies. Without keys (the CLI demands --insecure-no-key for that) the pack is
 * checked against its own keys.
 */
export async function verifyCommand(path: string, keys: string[], tsaRootPath: string | undefined, output: Output): Promise<number> {
  let tsaRoots: string | undefined;
  try {
    accessSync(path, constants.R_OK);
    tsaRoots = tsaRootPath === undefined ? undefined : readFileSync(tsaRootPath, 'utf8');
  } catch (error) {
    return failed(output, 'unreadable', (error as Error).message);
  }
  try {
    const trustedKeys = keys.length > 0 ? keys.map((k) => NoteVerifier.parse(k)) : undefined;
    const started = performance.now();
    const s = await verifyPackFile(path, { trustedKeys, tsaRoots, onProgress: output.json ? () => undefined : progress() });
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
  complete:      ${edges(s)}
  checkpoints:   ${s.checkpoints} signed by ${s.signedBy.join(', ')}, each consistent with the previous
  inclusion:     ${s.inclusionProofs} sampled inclusion proofs verify
  receipts:      ${s.receipts} guard receipt(s), each well-formed under its partner's id, chained and in the checkpoint
${anchorLines(s)}
  verified in:   ${seconds.toFixed(2)} s`);
    if (!s.pinnedKeys) console.log('  WARNING: --insecure-no-key: checked against the keys inside the pack. Pin the operator\'s published key to rule out a forged pack.');
    if (s.openEnd) console.log(`  WARNING: the range is open at its end: the pack's last checkpoint (${s.checkpointSize}) ends inside it; entries recorded after that checkpoint are not in the pack.`);
    return 0;
  } catch (error) {
    return failed(output, error instanceof LedgerVerificationError ? error.code : 'invalid', (error as Error).message);
  }
}

function edges(s: AnchoredPackSummary): string {
  const start = s.boundaries.before === null ? 'from the log\'s first entry' : `entry ${s.boundaries.before} before it was recorded before the range`;
  const end = s.boundaries.after === null ? 'open end (see the warning below)' : `entry ${s.boundaries.after} after it was recorded after the range`;
  return `${start}; ${end}`;
}

/**
 * `ctp export --from --to [--out] [--url]`: streams a running service's pack to a file (`<out>.part`, renamed when
 * complete) with progress on stderr, sending the auditor credential from CTP_AUDITOR_KEY (not needed in dev mode).
 */
export async function exportCommand(options: { from: string; to: string; out?: string; url?: string }, output: Output, env = process.env): Promise<number> {
  const url = `${baseUrl(options.url)}/ledger/export?from=${encodeURIComponent(options.from)}&to=${encodeURIComponent(options.to)}`;
  const out = options.out ?? `ctp-pack-${options.from.slice(0, 10)}-${options.to.slice(0, 10)}.zip`;
  const headers: Record<string, string> = env.CTP_AUDITOR_KEY ? { Authorization: `Bearer ${env.CTP_AUDITOR_KEY}` } : {};
  let shown = 0;
  const onProgress = (bytes: number) => {
    if (output.json || bytes - shown < 8 * 1024 * 1024) return;
    shown = bytes;
    process.stderr.write(process.stderr.isTTY ? `\rdownloading ${(bytes / 1048576).toFixed(0)} MiB` : `downloaded ${(bytes / 1048576).toFixed(0)} MiB\n`);
  };
  let result: Awaited<ReturnType<typeof downloadPack>>;
  try {
    result = await downloadPack(url, out, { headers, onProgress });
  } catch (error) {
    throw unreachable(url, error);
  }
  if (shown > 0 && process.stderr.isTTY) process.stderr.write('\n');
  if (result.status !== 200) {
    if (output.json) console.log(JSON.stringify({ ok: false, url, status: result.status, body: result.error ?? '' }));
    else console.error(`export failed: GET ${url} answered HTTP ${result.status} ${result.error ?? ''}`);
    return 1;
  }
  if (output.json) console.log(JSON.stringify({ ok: true, out, bytes: result.bytes }));
  else console.log(`wrote ${out} (${result.bytes} bytes); check it with: ctp verify ${out} --key <verifier key from GET /ledger/verifiers>`);
  return 0;
}
