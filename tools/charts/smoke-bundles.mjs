#!/usr/bin/env node
// Starts the esbuild bundles (dist/apps/<name>/main.js, from `node tools/build.mjs`) the way the
// container images do (`node dist/apps/<name>/main.js`), against the local NATS, Redis and
// PostgreSQL, and checks that each one serves /healthz, /readyz and /metrics, then drives one
// issue -> introspect -> revoke -> introspect (deny) -> ledger round trip through them, and
// `ctp up` on its own.
//
//   node tools/charts/smoke-bundles.mjs [--dist DIR]
//
// The bundles run from a copy of dist/apps in a temporary directory, away from the repository's
// node_modules, as in the image: each app directory (bundle, the packages shipped beside it, SBOM)
// and the migrations are all the runtime stage copies. --dist runs another copy of dist/apps in
// place. Exits non-zero with the failing step.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ENVELOPE from '../../libs/testing/src/guide_envelope.json' with { type: 'json' };

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const distArg = process.argv.indexOf('--dist');
const run = randomBytes(4).toString('hex');
const work = mkdtempSync(join(tmpdir(), 'ctp-smoke-'));
const dist = distArg > 0 ? resolve(process.argv[distArg + 1]) : join(work, 'image', 'dist');
if (distArg < 0) cpSync(join(root, 'dist', 'apps'), dist, { recursive: true });
const NATS = process.env.CTP_SMOKE_NATS_URL ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.CTP_SMOKE_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG = process.env.CTP_SMOKE_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const children = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function start(name, env, args = []) {
  const port = await freePort();
  const child = spawn(process.execPath, ['--enable-source-maps', join(dist, name, 'main.js'), ...args], {
    cwd: work,
    env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', CTP_HOST: '127.0.0.1', CTP_PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output}`);
    const res = await fetch(`${url}/readyz`).catch(() => undefined);
    if (res?.status === 200) return { name, url, child, output: () => output };
    await sleep(200);
  }
  throw new Error(`${name} not ready on ${url} within 60 s:\n${output}`);
}

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  console.log(`  ok  ${what}`);
}

async function probe(svc, metricNames) {
  check((await fetch(`${svc.url}/healthz`)).status === 200, `${svc.name} /healthz 200`);
  check((await fetch(`${svc.url}/readyz`)).status === 200, `${svc.name} /readyz 200`);
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  for (const m of metricNames) check(text.includes(m), `${svc.name} /metrics has ${m}`);
}

const post = async (url, body) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
};

async function main() {
  console.log(`smoke: bundles in ${dist}, run ${run}`);
  const backends = { CTP_NATS_URL: NATS, CTP_REDIS_URL: REDIS, CTP_REDIS_PREFIX: `smoke:${run}:`, CTP_DEV_MODE: 'true' };
  const issuerIss = 'https://ctp.smoke.test';
  const issuer = await start('issuer', {
    ...backends,
    CTP_ISSUER: issuerIss,
    CTP_KEY_DIR: join(work, 'keys'),
    CTP_SUBJECT_SECRET_FILE: join(work, 'subject.secret'),
  });
  await probe(issuer, ['ctp_consent_issued_total', 'ctp_http_requests_total', 'ctp_build_info{version="0.1.0"']);
  const writer = await start('ledger-writer', {
    CTP_NATS_URL: NATS,
    // Dev mode: the smoke connects as the superuser, which a production writer refuses (its two
    // roles are tested in apps/ledger-writer/src/ledger.spec.ts); here only the bundle is on trial.
    CTP_DEV_MODE: 'true',
    CTP_DATABASE_URL: PG,
    CTP_DATABASE_SCHEMA: `smoke_${run}`,
    CTP_LEDGER_DURABLE: `smoke-${run}`,
    // A new durable would otherwise first replay every event the shared NATS still retains.
    CTP_LEDGER_REPLAY_FROM: new Date(Date.now() - 60_000).toISOString(),
    CTP_LEDGER_KEY_DIR: join(work, 'ledger-keys'),
  });
  await probe(writer, ['ctp_ledger_append_latency_seconds', 'ctp_ledger_integrity_ok']);
  const broadcaster = await start('revocation-broadcaster', backends);
  await probe(broadcaster, ['ctp_consent_revoked_total']);
  const introspector = await start('introspector', { ...backends, CTP_ISSUER: issuerIss, CTP_JWKS_URL: `${issuer.url}/.well-known/jwks.json` });
  await probe(introspector, ['ctp_token_validation_latency_seconds', 'ctp_revocation_propagation_seconds']);

  const issued = await post(`${issuer.url}/issue`, ENVELOPE);
  check(issued.status === 200 && typeof issued.body.token === 'string', 'POST /issue -> token');
  const allow = await post(`${introspector.url}/introspect`, { token: issued.body.token, context_envelope: ENVELOPE });
  check(allow.status === 200 && allow.body.decision === 'allow', 'POST /introspect -> allow');
  const revoked = await post(`${broadcaster.url}/revoke`, { jti: issued.body.jti, reason: 'user_revoked' });
  check(revoked.status === 200 && revoked.body.revoked === issued.body.jti, 'POST /revoke -> ok');
  let deny;
  for (let i = 0; i < 50; i++) {
    deny = await post(`${introspector.url}/introspect`, { token: issued.body.token, context_envelope: ENVELOPE });
    if (deny.body.decision === 'deny') break;
    await sleep(100);
  }
  check(deny.body.decision === 'deny' && deny.body.reason === 'revoked', 'POST /introspect after revoke -> deny revoked');
  let entries = [];
  for (let i = 0; i < 100 && entries.length < 2; i++) {
    entries = (await (await fetch(`${writer.url}/ledger/entries?jti=${issued.body.jti}`)).json()).entries ?? [];
    if (entries.length < 2) await sleep(200);
  }
  check(entries.length === 2, 'ledger-writer recorded consent.issued and consent.revoked (migrations found)');

  const up = await start('ctp', { CTP_DATA_DIR: join(work, 'ctp-data') }, ['up']);
  await probe(up, ['ctp_token_validation_latency_seconds', 'ctp_ledger_integrity_ok']);
  const upIssued = await post(`${up.url}/issue`, ENVELOPE);
  check(upIssued.status === 200, 'ctp up: POST /issue -> token (embedded PGlite ledger)');
}

/** Drops what the run left in the shared local servers (best effort: needs the repo's node_modules). */
async function cleanUp() {
  const require = createRequire(import.meta.url);
  try {
    const postgres = require('postgres');
    const sql = postgres(PG, { max: 1, onnotice: () => undefined });
    await sql.unsafe(`DROP SCHEMA IF EXISTS smoke_${run} CASCADE`);
    await sql.end({ timeout: 1 });
  } catch (error) {
    console.error(`smoke: could not drop schema smoke_${run}: ${error.message}`);
  }
  try {
    const { connect } = require('@nats-io/transport-node');
    const { jetstreamManager } = require('@nats-io/jetstream');
    const nc = await connect({ servers: NATS, timeout: 2000 });
    const jsm = await jetstreamManager(nc);
    for (const stream of ['CTP_LEDGER', 'CTP_REVOCATIONS']) await jsm.consumers.delete(stream, `smoke-${run}`).catch(() => undefined);
    await nc.close();
  } catch (error) {
    console.error(`smoke: could not delete durable consumer smoke-${run}: ${error.message}`);
  }
}

let failed = false;
try {
  await main();
  console.log('smoke: all bundles started and served');
} catch (error) {
  failed = true;
  console.error(`smoke: ${error.message}`);
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await sleep(500);
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
  await cleanUp();
}
process.exit(failed ? 1 : 0);
