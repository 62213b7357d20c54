import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { GUIDE_ENVELOPE } from '@ctp/testing';
import { paced } from '../bench/loadgen.mjs';
import type { ChartShape } from './chart';
import { nginxConf, selfSignedCertificate } from './nginx';
import { revocationPush } from './push';
import { ROOT, startTopology } from './topology';

/**
 * `npm run bench:topology`: introspection through the topology's Ingress (nginx, TLS 1.3, two
 * introspector replicas) at a fixed 1,000 requests/s, against the same nginx configuration in
 * front of a bare express echo of the body, in the same run on the same machine: the ratio is what
 * CTP adds over an Ingress and a Node.js HTTP server. Then the revocation push across replicas
 * (tools/topology/push.ts): `/revoke` through the Ingress to each introspector replica denying the
 * token, one revocation at a time. Loopback only, bounded (10 s per introspection leg, at most
 * CTP_TOPOLOGY_PUSH_COUNT revocations (200, at most 1,000) or 60 s for the push leg).
 */
const BASE = Number(process.env.CTP_TOPOLOGY_BENCH_BASE_PORT ?? 19_150);
const RATE = Number(process.env.CTP_BENCH_RATE ?? 1000);
const DURATION_MS = 10_000;
const ENVELOPE = GUIDE_ENVELOPE;
const PUSH_COUNT = Math.min(1_000, Math.max(1, Number(process.env.CTP_TOPOLOGY_PUSH_COUNT ?? 200) || 200));

/** nginx (the topology's configuration) in front of a bare express echo: the baseline. */
async function echoBaseline(dir: string, ingressPort: number, echoPort: number) {
  const app = express();
  app.use(express.json({ limit: '64kb' }));
  app.post('/introspect', (req, res) => void res.json({ active: true, echo: req.body as unknown }));
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
    const s = app.listen(echoPort, '127.0.0.1', () => resolve(s));
  });
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub), { recursive: true });
  const tls = selfSignedCertificate(dir);
  const shape: ChartShape = { env: {} as ChartShape['env'], routes: [{ path: '/introspect', exact: true, service: 'introspector' }], annotations: {}, serviceAddresses: {} };
  const upstreams = { introspector: [echoPort] } as Parameters<typeof nginxConf>[1]['upstreams'];
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(shape, { dir, ingressPort, servicePorts: {} as Parameters<typeof nginxConf>[1]['servicePorts'], upstreams, tls }));
  const nginx = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1_000));
  return {
    ca: readFileSync(tls.cert, 'utf8'),
    stop: async () => {
      nginx.kill('SIGQUIT');
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function main() {
  const topology = await startTopology({ base: BASE, dir: join(ROOT, 'var/topology-bench'), ingressAccessLog: true, log: (l) => console.error(`topology: ${l}`) });
  const baseline = await echoBaseline(join(ROOT, 'var/topology-bench/echo'), BASE + 48, BASE + 49);
  try {
    const res = await fetch(`http://127.0.0.1:${topology.ports.replicas.issuer[0]}/issue`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ENVELOPE) });
    const { token } = (await res.json()) as { token: string };
    const body = JSON.stringify({ token, context_envelope: ENVELOPE });
    const leg = (port: number, ca: string) => paced({ port, path: '/introspect', rate: RATE, durationMs: DURATION_MS, warmupMs: 2_000, body: () => body, tls: ca, check: (status, b) => status === 200 && b.includes('"active":true') });
    // Alternated, twice each, so a burst of load from elsewhere on the machine does not favour one.
    const runs = { ctp: [] as Awaited<ReturnType<typeof paced>>[], echo: [] as Awaited<ReturnType<typeof paced>>[] };
    for (let i = 0; i < 2; i++) {
      runs.echo.push(await leg(BASE + 48, baseline.ca));
      runs.ctp.push(await leg(topology.ports.ingress, topology.ca));
    }
    const push = await revocationPush(topology, { count: PUSH_COUNT, budgetMs: 60_000 });
    const median = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const mid = sorted.length / 2;
      return Number.isInteger(mid) ? (sorted[mid - 1]! + sorted[mid]!) / 2 : sorted[Math.floor(mid)]!;
    };
    const summary = {
      measuredAt: new Date().toISOString(),
      rate: RATE,
      durationMs: DURATION_MS,
      ctp: runs.ctp,
      echo: runs.echo,
      p50_ratio: median(runs.ctp.map((r) => r.p50_ms)) / median(runs.echo.map((r) => r.p50_ms)),
      p99_ratio: median(runs.ctp.map((r) => r.p99_ms)) / median(runs.echo.map((r) => r.p99_ms)),
      push,
      loadavg: loadavg(),
    };
    writeFileSync(join(ROOT, 'var/topology-bench.json'), `${JSON.stringify(summary, null, 2)}\n`);
    console.log(JSON.stringify(summary, null, 2));
  } finally {
    await baseline.stop();
    await topology.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
