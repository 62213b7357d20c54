// Micro-benchmark: ES256 sign and verify of a real-sized consent token signing input,
// via node:crypto KeyObjects, bare (DER signatures: what libs/ctp-core/src/es256.ts calls,
// converting to r || s itself) and with the { dsaEncoding: 'ieee-p1363' } option object
// (what it called before: much slower per call on Node 24), versus WebCrypto (crypto.subtle, which is asynchronous and runs on the libuv
// thread pool). Variants are interleaved within each round; the result per variant is
// the median over rounds. Run by run.mjs in its own process while no server runs.
//   node tools/bench/micro-crypto.mjs [--rounds N] [--ms M]
import { generateKeyPairSync, sign, verify, webcrypto } from 'node:crypto';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, ms: { type: 'string', default: '400' } } });
const ROUNDS = Math.min(50, Number(values.rounds));
const ROUND_MS = Math.min(5_000, Number(values.ms));
const IN_FLIGHT = 64;
const MAX_OPS = 5_000_000;

const { subtle } = webcrypto;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const algorithm = { name: 'ECDSA', hash: 'SHA-256' };
const importParams = { name: 'ECDSA', namedCurve: 'P-256' };
const cryptoPrivate = privateKey.toCryptoKey(importParams, false, ['sign']);
const cryptoPublic = publicKey.toCryptoKey(importParams, false, ['verify']);

// A signing input the size of a real consent token (header.payload, about 700 characters).
const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'key-2026-11-0123abcd', typ: 'JWT' })).toString('base64url');
const payload = Buffer.from(
  JSON.stringify({
    iss: 'http://127.0.0.1:8000', aud: 'svc://cx-ai/v1', sub: 'mXz3-7tlx40FIjNAt2qzwW1vGdu56SJ4yWYxlEMBNKU', iat: 1795423277, exp: 1795423517,
    jti: '25d90b97-3709-4eab-bdd7-c546295d46f3', scope: ['sentiment.read', 'tone.read'], purpose: 'customer_retention',
    context_hash: '090e612392f84f6d9ac266a59f595eef3f9e3d2c1bb992a989e8e658301d370f', policy_uri: 'https://partner.example/policy/2025-11-01',
    consent_level: 'explicit', consent_version: 'ctp-0.1',
  }),
).toString('base64url');
const data = Buffer.from(`${header}.${payload}`, 'ascii');
const nodeSig = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
const webSig = new Uint8Array(await subtle.sign(algorithm, cryptoPrivate, data));
if (!verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(webSig))) throw new Error('WebCrypto signature does not verify with node:crypto');
if (!(await subtle.verify(algorithm, cryptoPublic, nodeSig, data))) throw new Error('node:crypto signature does not verify with WebCrypto');

const derSig = sign('sha256', data, privateKey);
const variants = {
  'node:crypto sign, bare KeyObject (DER)': { sync: () => sign('sha256', data, privateKey) },
  'node:crypto verify, bare KeyObject (DER)': { sync: () => verify('sha256', data, publicKey, derSig) || fail() },
  'node:crypto sign, ieee-p1363 option': { sync: () => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }) },
  'node:crypto verify, ieee-p1363 option': { sync: () => verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, nodeSig) || fail() },
  'WebCrypto sign, 1 in flight': { async: () => subtle.sign(algorithm, cryptoPrivate, data), inFlight: 1 },
  'WebCrypto verify, 1 in flight': { async: () => subtle.verify(algorithm, cryptoPublic, webSig, data).then((ok) => ok || fail()), inFlight: 1 },
  [`WebCrypto sign, ${IN_FLIGHT} in flight`]: { async: () => subtle.sign(algorithm, cryptoPrivate, data), inFlight: IN_FLIGHT },
  [`WebCrypto verify, ${IN_FLIGHT} in flight`]: { async: () => subtle.verify(algorithm, cryptoPublic, webSig, data).then((ok) => ok || fail()), inFlight: IN_FLIGHT },
};

function fail() {
  throw new Error('verification failed');
}

async function measure(variant) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + ROUND_MS;
  let ops = 0;
  if (variant.sync) {
    while (ops < MAX_OPS) {
      for (let k = 0; k < 64; k++) variant.sync();
      ops += 64;
      if (performance.now() >= deadline) break;
    }
  } else {
    await Promise.all(
      Array.from({ length: variant.inFlight }, async () => {
        while (performance.now() < deadline && ops < MAX_OPS) {
          await variant.async();
          ops++;
        }
      }),
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { ops_per_s: ops / seconds, cpu_us_per_op: (cpu.user + cpu.system) / ops };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (const variant of Object.values(variants)) await measure({ ...variant, inFlight: variant.inFlight }); // warm-up
for (let r = 0; r < ROUNDS; r++) for (const [name, variant] of Object.entries(variants)) samples[name].push(await measure(variant));

const results = {};
for (const [name, xs] of Object.entries(samples)) {
  results[name] = {
    ops_per_s: Math.round(median(xs.map((x) => x.ops_per_s))),
    us_per_op: Math.round((1e6 / median(xs.map((x) => x.ops_per_s))) * 10) / 10,
    cpu_us_per_op: Math.round(median(xs.map((x) => x.cpu_us_per_op)) * 10) / 10,
    min_ops_per_s: Math.round(Math.min(...xs.map((x) => x.ops_per_s))),
    max_ops_per_s: Math.round(Math.max(...xs.map((x) => x.ops_per_s))),
  };
}
console.log(JSON.stringify({ rounds: ROUNDS, round_ms: ROUND_MS, signing_input_bytes: data.length, threadpool: process.env.UV_THREADPOOL_SIZE ?? '4 (default)', results }));
