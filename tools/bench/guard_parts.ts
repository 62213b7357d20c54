// Guard assurance parts (issue 13, items 4-6): CPU time per operation of the breaker, the Cedar
// policy shields and the local SQLite receipt store, against one ES256 verification (node:crypto)
// measured in the same run as the baseline: the guard does at least one per request anyway.
//   npm run bench:guard-parts              full run, prints JSON
//   npm run bench:guard-parts -- --quick   tiny counts (smoke run)
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { CedarPolicyShield, HysteresisBreaker, SqliteReceiptStore, type ReceiptInput } from '@ctp/guard';

const QUICK = process.argv.includes('--quick');
const N = QUICK ? 2_000 : 50_000;
const N_SLOW = QUICK ? 200 : 3_000;
const ROUNDS = QUICK ? 1 : 5;
const ROOT = join(__dirname, '../..');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** CPU microseconds per operation of `op`, run `n` times. */
function cpuUsPerOp(n: number, op: (i: number) => void): number {
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) op(i);
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / n;
}

const receipt = (i: number): ReceiptInput => ({
  decision: 'allow',
  reason: 'ok',
  method: 'POST',
  path: `/v1/infer/${i % 100}`,
  contentDigest: 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
  jti: '0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e',
  algs: ['ES256'],
  breakerState: 'closed',
  policyId: 'binding.writes-channel,binding.writes-key',
  policyHash: 'a'.repeat(64),
  at: Date.now(),
});

function main() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-guard-'));
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const message = Buffer.from('x'.repeat(512));
  const signature = sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const breaker = new HysteresisBreaker({ name: 'bench', registry: new Registry() });
  const shield = new CedarPolicyShield({ policyPath: join(ROOT, 'policy/shield.cedar'), schemaPath: join(ROOT, 'policy/shield.cedarschema'), watchIntervalMs: 0, cacheSize: 1 });
  const normal = new SqliteReceiptStore({ path: join(dir, 'normal.db') });
  const full = new SqliteReceiptStore({ path: join(dir, 'full.db'), synchronous: 'FULL' });
  const results: Record<string, number[]> = { es256_verify: [], breaker_acquire_record: [], shield_decide_cached: [], shield_decide_cedar: [], receipt_record_normal: [], receipt_record_full: [] };
  for (let r = 0; r < ROUNDS; r++) {
    results.es256_verify!.push(cpuUsPerOp(N_SLOW, () => verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)));
    results.breaker_acquire_record!.push(cpuUsPerOp(N, () => breaker.tryAcquire() && breaker.record({ ok: true, latencyMs: 3 })));
    results.shield_decide_cached!.push(cpuUsPerOp(N, () => shield.decide({ method: 'POST', path: '/v1/infer' }, 'svc://cx-ai/v1')));
    // cacheSize 1 and two alternating routes: every decision goes to Cedar (four authorisations).
    results.shield_decide_cedar!.push(cpuUsPerOp(N_SLOW / 10, (i) => shield.decide({ method: 'POST', path: i % 2 ? '/a' : '/b' }, 'svc://cx-ai/v1')));
    results.receipt_record_normal!.push(cpuUsPerOp(N_SLOW, (i) => normal.record(receipt(i))));
    results.receipt_record_full!.push(cpuUsPerOp(N_SLOW / 3, (i) => full.record(receipt(i))));
  }
  normal.close();
  full.close();
  shield.close();
  rmSync(dir, { recursive: true, force: true });
  const base = median(results.es256_verify!);
  const out = Object.fromEntries(Object.entries(results).map(([k, xs]) => [k, { cpu_us_per_op_median: round(median(xs)), ratio_to_es256_verify: round(median(xs) / base, 3) }]));
  console.log(JSON.stringify({ rounds: ROUNDS, node: process.version, results: out }, null, 2));
}

main();
