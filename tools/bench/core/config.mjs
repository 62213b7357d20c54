// Shared settings of `npm run bench` (tools/bench/run.mjs): command-line flags, durations,
// the request envelope and small helpers every part of the bench uses.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
// The integration guide's envelope: the one copy, libs/testing's fixture.
import ENVELOPE from '../../../libs/testing/src/guide_envelope.json' with { type: 'json' };

export const ROOT = resolve(import.meta.dirname, '../../..');

export const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    write: { type: 'boolean' },
    'no-write': { type: 'boolean', default: false },
    json: { type: 'string' },
    'wait-quiet': { type: 'string', default: '0' },
    only: { type: 'string' },
    rounds: { type: 'string' },
    'baseline-root': { type: 'string' },
  },
});

/** Parts of the run: `--only rounds,standalone` runs just those (and writes nothing unless --write). */
export const PARTS = ['micro', 'floor', 'ctp', 'standalone', 'rounds'];
export const ONLY = flags.only ? new Set(flags.only.split(',').map((s) => s.trim())) : undefined;
if (ONLY) for (const p of ONLY) if (!PARTS.includes(p)) throw new Error(`--only: unknown part ${p} (parts: ${PARTS.join(', ')})`);
export const runs = (part) => !ONLY || ONLY.has(part);

export const QUICK = flags.quick;
export const WRITE = !flags['no-write'] && !flags.profile && (flags.write ?? (!QUICK && !ONLY));
const S = QUICK ? 0.2 : 1; // duration scale
export const sec = (s) => Math.max(200, Math.round(s * S * 1000)); // ms, never below 0.2 s

export const CFG = {
  closedConnections: 32,
  closedWarmupMs: sec(2),
  closedMs: sec(10),
  fixedRate: 1000,
  fixedRuns: 3,
  fixedWarmupMs: sec(1),
  fixedMs: sec(5),
  stepWarmupMs: sec(1),
  stepMs: sec(5),
  maxSteps: QUICK ? 4 : 6,
  rateMin: 1000,
  rateMax: 20_000,
  p99LimitMs: 10,
  poolSize: 1000,
  microRounds: QUICK ? 3 : 5,
  microRoundMs: QUICK ? 100 : 300,
  laterIssueMs: sec(5),
  // Same-round comparison (every shape against the floor, interleaved): rounds x seconds per workload.
  rounds: Number(flags.rounds ?? (QUICK ? 2 : 5)),
  roundMs: sec(4),
  roundWarmupMs: sec(1),
  // A measurement during which other processes used more than this many cores is repeated (bounded).
  busyCores: 0.25,
  extraRuns: 2,
};

export const ENVELOPE_JSON = JSON.stringify(ENVELOPE);
export const introspectBody = (token) => `{"token":${JSON.stringify(token)},"context_envelope":${ENVELOPE_JSON}}`;
export const isAllow = (status, body) => status === 200 && body.includes('"decision":"allow"');
export const isOk = (status) => status === 200;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const round = (x, d = 2) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);
export const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)}s`;
export const log = (...a) => console.error(`[bench ${elapsed()}]`, ...a);
