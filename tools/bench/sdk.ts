// SDK local validation benchmarks (issue 12): decisions per second per core for cached and
// first-seen tokens, with raw node:crypto ES256 verification measured in the same run as the
// baseline, and revoke -> local deny latency over the SSE push channel. `ctp up` runs as its own
// process (embedded defaults); the validator and the load run in this process.
//   npm run bench:sdk                    full run, prints JSON
//   npm run bench:sdk -- --write         also updates BENCHMARKS.md
//   npm run bench:sdk -- --quick         tiny counts (smoke run)
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { consentEnvelope, CtpClient, createLocalValidator, type ContextEnvelope, type LocalValidator } from '@ctp/sdk';
import { GUIDE_ENVELOPE } from '@ctp/testing';
import { startCtpUp } from './ctp_up';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const CACHED_DECISIONS = QUICK ? 20_000 : 2_000_000;
const CACHED_TOKENS = QUICK ? 10 : 1_000;
const FIRST_SEEN = QUICK ? 200 : 5_000;
const RAW_VERIFIES = QUICK ? 2_000 : 50_000;
const REVOCATIONS = QUICK ? 20 : 500;
const ROUNDS = QUICK ? 1 : 3;
const ROOT = join(__dirname, '../..');

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const median = (xs: number[]) => quantile(xs, 0.5);

interface Rate {
  /** Decisions per wall-clock second. */
  wall_per_s: number;
  /** Decisions per CPU-second of this process (all threads: WebCrypto verifies on the libuv pool). */
  per_core_per_s: number;
}

/** Runs `work` (which performs `n` operations) and measures wall and CPU time. */
async function measure(n: number, work: () => Promise<void> | void): Promise<Rate> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wall_per_s: Math.round(n / wallS), per_core_per_s: Math.round(n / ((cpu.user + cpu.system) / 1e6)) };
}


async function issueMany(client: CtpClient, envelope: ContextEnvelope, n: number): Promise<{ token: string; jti: string }[]> {
  const out: { token: string; jti: string }[] = [];
  for (let i = 0; i < n; i += 50) out.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => client.issue(envelope)))));
  return out;
}

async function main() {
  const ctp = await startCtpUp('sdk', { CTP_RATE_LIMIT_ISSUE: '1000000/1s', CTP_RATE_LIMIT_REVOKE: '1000000/1s' });
  const client = new CtpClient({ baseUrl: ctp.url });
  const envelope = consentEnvelope({ ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] });
  let validator: LocalValidator | undefined;
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, quick: QUICK };
  try {
    validator = createLocalValidator({ baseUrl: ctp.url, cacheSize: Math.max(10_000, FIRST_SEEN * 2) });
    await validator.ready();
    // Tokens live 300 s: on a busy machine issuing thousands takes minutes, so the first-seen ones are issued
    // first and the cached ones (decided first) last, and each is used well inside its lifetime.
    const t0 = performance.now();
    const firstSeenTokens = await issueMany(client, envelope, FIRST_SEEN * ROUNDS);
    const cachedTokens = await issueMany(client, envelope, CACHED_TOKENS);
    console.error(`issued ${FIRST_SEEN * ROUNDS + CACHED_TOKENS} tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // Baseline: raw node:crypto ES256 verification of the same tokens, one at a time.
    const jwks = (await (await fetch(`${ctp.url}/.well-known/jwks.json`)).json()) as { keys: Record<string, string>[] };
    const key = createPublicKey({ key: jwks.keys[0]!, format: 'jwk' });
    const inputs = cachedTokens.map(({ token }) => {
      const [h, p, s] = token.split('.') as [string, string, string];
      return { data: Buffer.from(`${h}.${p}`), signature: Buffer.from(s, 'base64url') };
    });
    const raw: Rate[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      raw.push(await measure(RAW_VERIFIES, () => {
        for (let i = 0; i < RAW_VERIFIES; i++) {
          const input = inputs[i % inputs.length]!;
          if (!verify('sha256', input.data, { key, dsaEncoding: 'ieee-p1363' }, input.signature)) throw new Error('baseline verification failed');
        }
      }));
    }

    // Cached: every token verified once before; each decision re-checks revocation, expiry and context.
    for (const { token } of cachedTokens) { const d = await validator.decide(token, envelope); if (d.decision !== 'allow') throw new Error(`a cached token was not allowed: ${d.reason}`); }
    const cached: Rate[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      cached.push(await measure(CACHED_DECISIONS, async () => {
        for (let i = 0; i < CACHED_DECISIONS; i++) {
          const d = await validator!.decide(cachedTokens[i % cachedTokens.length]!.token, envelope);
          if (d.active !== true) throw new Error(`cached decision ${d.reason}`);
        }
      }));
    }

    // First-seen: each token decided once (JWKS key lookup, jose jwtVerify, claims); 64 in flight.
    const firstSeen: Rate[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const batch = firstSeenTokens.slice(r * FIRST_SEEN, (r + 1) * FIRST_SEEN);
      firstSeen.push(await measure(FIRST_SEEN, async () => {
        for (let i = 0; i < batch.length; i += 64) {
          const decisions = await Promise.all(batch.slice(i, i + 64).map(({ token }) => validator!.decide(token, envelope)));
          if (decisions.some((d) => d.active !== true)) throw new Error('a first-seen token was not allowed');
        }
      }));
    }

    // Revoke -> local deny: from just before POST /revoke to the validator denying, one at a time.
    const revokeTokens = await issueMany(client, envelope, REVOCATIONS);
    for (const { token } of revokeTokens) await validator.decide(token, envelope);
    const latencies: number[] = [];
    for (const { token, jti } of revokeTokens) {
      const seen = new Promise<void>((resolve) => {
        const off = validator!.onRevoked((revoked) => {
          if (revoked === jti) {
            off();
            resolve();
          }
        });
      });
      const t0 = performance.now();
      await client.revoke(jti, 'bench');
      await seen;
      if ((await validator.decide(token, envelope)).reason !== 'revoked') throw new Error('a revoked token was not denied');
      latencies.push(performance.now() - t0);
    }

    const best = (rs: Rate[]) => ({ wall_per_s: Math.max(...rs.map((x) => x.wall_per_s)), per_core_per_s: median(rs.map((x) => x.per_core_per_s)) });
    const rawBest = best(raw);
    results.raw_verify = { ...rawBest, operations: RAW_VERIFIES, rounds: ROUNDS };
    results.cached = { ...best(cached), decisions: CACHED_DECISIONS, tokens: CACHED_TOKENS, ratio_to_raw: round(best(cached).per_core_per_s / rawBest.per_core_per_s) };
    results.first_seen = { ...best(firstSeen), decisions: FIRST_SEEN, in_flight: 64, ratio_to_raw: round(best(firstSeen).per_core_per_s / rawBest.per_core_per_s) };
    results.revoke_to_local_deny = { samples: latencies.length, p50_ms: round(quantile(latencies, 0.5)), p95_ms: round(quantile(latencies, 0.95)), p99_ms: round(quantile(latencies, 0.99)), max_ms: round(Math.max(...latencies)) };
    results.targets = {
      'cached >= 100,000 decisions/s per core': (results.cached as Rate).per_core_per_s >= 100_000,
      'first-seen >= 5,000 decisions/s per core': (results.first_seen as Rate).per_core_per_s >= 5_000,
      'revoke -> local deny p95 <= 50 ms': (results.revoke_to_local_deny as { p95_ms: number }).p95_ms <= 50,
    };
  } finally {
    await validator?.close();
    ctp.child.kill('SIGTERM');
  }
  console.log(JSON.stringify(results, null, 2));
  if (args.includes('--write')) writeSection(results);
}

function writeSection(r: Record<string, any>) {
  const path = join(ROOT, 'BENCHMARKS.md');
  const begin = '<!-- sdk:begin -->';
  const end = '<!-- sdk:end -->';
  const pass = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const t = r.targets as Record<string, boolean>;
  const n = (x: number) => x.toLocaleString('en-US');
  const section = `${begin}
## SDK local validation (\`npm run bench:sdk\`)

Measured ${r.date} on ${r.cpu} (${r.cores} cores), Node.js ${r.node}${r.quick ? ' (quick mode: tiny counts, not a measurement)' : ''}. \`ctp up\` runs as its
own process; the SDK's \`createLocalValidator()\` and the load run in this process. "Per core" is decisions per CPU-second of
this process (user + system, all threads: jose verifies through WebCrypto on the libuv pool): the median over rounds; wall clock: the best round.

| measurement | per core | wall clock | vs raw verify | target |
| --- | --- | --- | --- | --- |
| raw \`node:crypto\` ES256 verify (baseline, same run) | ${n(r.raw_verify.per_core_per_s)} /s | ${n(r.raw_verify.wall_per_s)} /s | 1x | |
| cached tokens: \`decide()\` of ${n(r.cached.tokens)} tokens verified before, ${n(r.cached.decisions)} decisions | ${n(r.cached.per_core_per_s)} /s | ${n(r.cached.wall_per_s)} /s | ${r.cached.ratio_to_raw}x | ${pass(t['cached >= 100,000 decisions/s per core'] === true)} >= 100,000 /s |
| first-seen tokens: ${n(r.first_seen.decisions)} tokens, each decided once, ${r.first_seen.in_flight} in flight | ${n(r.first_seen.per_core_per_s)} /s | ${n(r.first_seen.wall_per_s)} /s | ${r.first_seen.ratio_to_raw}x | ${pass(t['first-seen >= 5,000 decisions/s per core'] === true)} >= 5,000 /s |
| revoke -> local deny over SSE (${r.revoke_to_local_deny.samples} revocations, one at a time) | p50 ${r.revoke_to_local_deny.p50_ms} ms, p95 ${r.revoke_to_local_deny.p95_ms} ms, p99 ${r.revoke_to_local_deny.p99_ms} ms, max ${r.revoke_to_local_deny.max_ms} ms | | | ${pass(t['revoke -> local deny p95 <= 50 ms'] === true)} p95 <= 50 ms |

Method: a cached decision is \`decide(token, envelope)\` for a token whose signature was verified before: a map lookup, the
key-still-published check, and ctp-core's \`validateClaims\` (revocation, freshness, expiry, purpose, scope, and the context hash
memoised for the frozen envelope). A first-seen decision adds ctp-core's structural checks, jose's key lookup and \`jwtVerify\`
(ES256 through WebCrypto) and the claims schema. Revoke latency runs from just before the \`POST /revoke\` request to the moment
the validator, fed by \`/revocations/stream\`, denies the token with \`revoked\`.
${end}`;
  let doc = readFileSync(path, 'utf8');
  doc = doc.includes(begin) ? doc.replace(new RegExp(`${begin}[\\s\\S]*${end}`), section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, doc);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
