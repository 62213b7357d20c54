// Guard overhead benchmark (issue 13): one route served twice in the same process and run, once behind
// `guard()` (RFC 9421 ES256 signature verify, content digest, nonce claimed with SET NX in Redis, consent token through
// the SDK's local validator, policy shield, and a receipt when a sink is given) and once unguarded, with
// the same handler. Reported: server-side time per request (first middleware -> response finished),
// end-to-end latency, their p50/p99 and ratios, and CPU microseconds per request of this process.
//   npm run bench:guard                     full run, writes BENCHMARKS.md
//   npm run bench:guard -- --quick          tiny counts (smoke run), nothing written
// Redis: CTP_BENCH_REDIS_URL (default redis://127.0.0.1:6379).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import express, { type RequestHandler } from 'express';
import { Redis } from 'ioredis';
import { ChallengeNonces, guard, KeyRing, MemoryNonceStore, RedisNonceStore, REQUIRE_NOTHING_SHIELD, type GuardOptions } from '@ctp/guard';
import { consentEnvelope, contentDigestOf, CtpClient, createLocalValidator, signatureHeaders, type RequestSigningKey } from '@ctp/sdk';
import { GUIDE_ENVELOPE } from '@ctp/testing';
import { startCtpUp } from './ctp_up';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const PER_ROUND = QUICK ? 200 : 1_500;
const ROUNDS = QUICK ? 2 : 5;
const WARMUP = QUICK ? 50 : 500;
const ROOT = join(__dirname, '../..');
const REDIS_URL = process.env.CTP_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BODY = JSON.stringify({ text: 'Thanks, the refund is resolved.' });
const { channel, processor, retention, jurisdiction, ui_copy_id } = GUIDE_ENVELOPE;
const CONTEXT = { channel, processor, retention, jurisdiction, ui_copy_id };

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;


interface Sample {
  serverMs: number[];
  endToEndMs: number[];
  cpuUs: number;
}

async function main() {
  const ctp = await startCtpUp('guard');
  const redis = new Redis(REDIS_URL);
  const validator = createLocalValidator({ baseUrl: ctp.url });
  try {
    await validator.ready();
    const envelope = consentEnvelope({ ...CONTEXT, purpose: 'customer_retention', features: ['tone', 'sentiment'], ts: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
    const token = (await new CtpClient({ baseUrl: ctp.url }).issue(envelope)).token;
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const key: RequestSigningKey = { keyid: 'bench-es256', alg: 'ES256', privateKey: pair.privateKey };
    const keys = new KeyRing([{ partnerId: 'demo', kid: key.keyid, jwk: { ...(pair.publicKey.export({ format: 'jwk' }) as { x: string; y: string }), kty: 'EC', crv: 'P-256', alg: 'ES256' } }]);
    const nonces = new RedisNonceStore(redis, 'bench:guard:nonce:');
    const memoryNonces = new MemoryNonceStore();
    // The guards' nonce secret, so requests can be signed ahead with nonces a challenge would have handed out.
    const nonceSecret = randomBytes(32);
    const minter = new ChallengeNonces(memoryNonces, nonceSecret);

    let serverTimes: number[] = [];
    const timed: RequestHandler = (_req, res, next) => {
      const t0 = performance.now();
      res.once('finish', () => serverTimes.push(performance.now() - t0));
      next();
    };
    const handler: RequestHandler = (req, res) => {
      // The same work on both routes: the unguarded one reads the body itself, the guarded one got it from the guard.
      if ((req as { guard?: unknown }).guard) return void res.json({ ok: true });
      req.resume();
      req.once('end', () => res.json({ ok: true }));
    };
    const app = express();
    app.post('/plain', timed, handler);
    const options: GuardOptions = { keys, nonces, nonceSecret, nonceTtlMs: 120_000, validator, shield: REQUIRE_NOTHING_SHIELD, consent: { purpose: 'customer_retention', features: ['tone', 'sentiment'], envelope: CONTEXT } };
    app.post('/guarded', timed, guard(options), handler);
    app.post('/guarded-memory', timed, guard({ ...options, nonces: memoryNonces }), handler);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const digest = contentDigestOf(Buffer.from(BODY));

    /** Signed headers for `n` requests, their nonces issued as a challenge would (signing is the client's cost, done before timing). */
    function presign(path: string, n: number): Record<string, string>[] {
      const out: Record<string, string>[] = [];
      for (let i = 0; i < n; i++) {
        const nonce = minter.mint();
        const created = Math.floor(Date.now() / 1000);
        const headers = { 'content-type': 'application/json', 'ctp-consent-token': token, 'content-digest': digest };
        const components: [string, string][] = [['@method', 'POST'], ['@target-uri', `${base}${path}`], ['content-digest', digest], ['ctp-consent-token', token]];
        const sig = signatureHeaders(components, [{ label: 'ctp', key }], { created, expires: created + 60, nonce });
        out.push({ ...headers, 'signature-input': sig['Signature-Input'], signature: sig.Signature });
      }
      return out;
    }

    type Path = '/plain' | '/guarded' | '/guarded-memory';
    async function run(path: Path, n: number): Promise<Sample> {
      const signed = path !== '/plain' ? presign(path, n) : Array.from({ length: n }, () => ({ 'content-type': 'application/json', 'ctp-consent-token': token, 'content-digest': digest }));
      serverTimes = [];
      const endToEndMs: number[] = [];
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const res = await fetch(`${base}${path}`, { method: 'POST', headers: signed[i]!, body: BODY });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
        endToEndMs.push(performance.now() - t0);
      }
      const cpu = process.cpuUsage(cpu0);
      return { serverMs: serverTimes, endToEndMs, cpuUs: (cpu.user + cpu.system) / n };
    }

    await run('/plain', WARMUP);
    await run('/guarded', WARMUP);
    await run('/guarded-memory', WARMUP);
    const plain: Sample[] = [];
    const guarded: Sample[] = [];
    const memory: Sample[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      plain.push(await run('/plain', PER_ROUND));
      guarded.push(await run('/guarded', PER_ROUND));
      memory.push(await run('/guarded-memory', PER_ROUND));
    }
    server.close();
    const all = (samples: Sample[], field: 'serverMs' | 'endToEndMs') => samples.flatMap((s) => s[field]);
    const stats = (samples: Sample[]) => ({
      server_p50_ms: round(quantile(all(samples, 'serverMs'), 0.5)),
      server_p99_ms: round(quantile(all(samples, 'serverMs'), 0.99)),
      e2e_p50_ms: round(quantile(all(samples, 'endToEndMs'), 0.5)),
      e2e_p99_ms: round(quantile(all(samples, 'endToEndMs'), 0.99)),
      cpu_us_per_request: Math.round(quantile(samples.map((s) => s.cpuUs), 0.5)),
    });
    const p = stats(plain);
    const g = stats(guarded);
    const m = stats(memory);
    const overhead = (x: ReturnType<typeof stats>) => ({
      server_p50_ms: round(x.server_p50_ms - p.server_p50_ms),
      server_p99_ms: round(x.server_p99_ms - p.server_p99_ms),
      e2e_p50_ratio: round(x.e2e_p50_ms / p.e2e_p50_ms, 2),
      e2e_p99_ratio: round(x.e2e_p99_ms / p.e2e_p99_ms, 2),
      cpu_us_per_request: x.cpu_us_per_request - p.cpu_us_per_request,
      cpu_ratio: round(x.cpu_us_per_request / p.cpu_us_per_request, 2),
    });
    const results = {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadavg_1m: round(loadavg()[0]!, 2),
      quick: QUICK,
      requests: PER_ROUND * ROUNDS,
      unguarded: p,
      guarded: g,
      guarded_memory: m,
      overhead: overhead(g),
      overhead_memory: overhead(m),
    };
    console.log(JSON.stringify(results, null, 2));
    if (!QUICK) writeSection(results);
  } finally {
    await validator.close();
    redis.disconnect();
    ctp.child.kill();
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function writeSection(r: Record<string, any>) {
  const path = join(ROOT, 'BENCHMARKS.md');
  const begin = '<!-- guard:begin -->';
  const end = '<!-- guard:end -->';
  const verdict = (o: Record<string, number>) => (o.server_p99_ms! <= 1 ? 'PASS' : 'FAIL');
  const rows = (label: string, g: Record<string, number>, o: Record<string, number>) => `| ${label} | server p50 | ${r.unguarded.server_p50_ms} ms | ${g.server_p50_ms} ms | +${o.server_p50_ms} ms | |
| | server p99 | ${r.unguarded.server_p99_ms} ms | ${g.server_p99_ms} ms | +${o.server_p99_ms} ms | ${verdict(o)} p99 overhead <= 1 ms |
| | end-to-end p50 | ${r.unguarded.e2e_p50_ms} ms | ${g.e2e_p50_ms} ms | ${o.e2e_p50_ratio}x | |
| | end-to-end p99 | ${r.unguarded.e2e_p99_ms} ms | ${g.e2e_p99_ms} ms | ${o.e2e_p99_ratio}x | |
| | CPU per request (median of rounds) | ${r.unguarded.cpu_us_per_request} µs | ${g.cpu_us_per_request} µs | +${o.cpu_us_per_request} µs (${o.cpu_ratio}x) | |`;
  const section = `${begin}
## Guard overhead (\`npm run bench:guard\`)

Measured ${r.date} on ${r.cpu} (${r.cores} cores, 1-minute load average ${r.loadavg_1m} at the end; absolute times
move with the machine's load, the ratios and differences come from the same run, rounds interleaved), Node.js ${r.node}.
${r.requests} requests per route, one at a time over keep-alive HTTP, after a warm-up.

| guard | per request | unguarded route | guarded route (ES256) | overhead | target |
| --- | --- | --- | --- | --- | --- |
${rows('nonces in Redis (SET NX)', r.guarded, r.overhead)}
${rows('nonces in memory (`ctp up`, one process)', r.guarded_memory, r.overhead_memory)}

Method: one express app serves \`POST /plain\`, \`POST /guarded\` and \`POST /guarded-memory\` with the same handler, rounds
interleaved; the guarded routes run \`guard()\` first:
strict RFC 9421 parsing and ES256 verification through http-message-signatures with the partner's registered key, the
nonce's HMAC tag checked and the nonce claimed with \`SET NX\` in a real Redis (a network round trip; the second guarded route
keeps claimed nonces in process), the RFC 9530 sha-256 + sha-512 digest of the body, the consent token through the SDK's local
validator (signature cached after the first request; revocation, expiry and context checked per request), and
\`REQUIRE_NOTHING_SHIELD\`. No receipt sink: a receipt's SQLite write is measured on its own by \`npm run bench:guard-parts\`.
The client's signing and the challenge (the 401, a request of its own) happen before timing. Server time runs from the route's first middleware to the response's \`finish\`; the unguarded handler reads the body
itself so both read it once. CPU time is this process's user + system time per request (the client runs here too, equally
for both routes, so the difference is the guard's).
${end}`;
  const doc = readFileSync(path, 'utf8');
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  writeFileSync(path, i >= 0 && j > i ? doc.slice(0, i) + section + doc.slice(j + end.length) : `${doc.trimEnd()}\n\n${section}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
