// What writing a response's fifteen headers costs node:http: one `setHeader` call each (how
// express routes, and the hot routes before, set them) against one `writeHead` with the whole
// list (the hot routes now: libs/http/src/security_headers.ts). Two bare node:http servers,
// one per form, each in its own process answering the same JSON body; closed loop with
// autocannon (32 connections, 4 s) in alternating rounds; server CPU µs per request.
// Run: npm run bench:headers [-- --rounds 6]
import { fork } from 'node:child_process';
import http from 'node:http';
import { parseArgs } from 'node:util';

// helmet's set as the services record it, then Cache-Control, Content-Type, Content-Length.
const SECURITY = [
  ['Content-Security-Policy', "default-src 'none';frame-ancestors 'none'"],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=63072000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'DENY'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
  ['Cache-Control', 'no-store'],
];
const FLAT = SECURITY.flat();
const BODY = JSON.stringify({ active: true, decision: 'allow', reason: null, jti: '8f0f0c4e-1111-4222-8333-944444444444', purpose: 'customer_retention', exp: 1799999999 });

if (process.argv[2] === 'serve') {
  const form = process.argv[3];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const length = Buffer.byteLength(BODY);
      if (form === 'setHeader') {
        for (const [name, value] of SECURITY) res.setHeader(name, value);
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.setHeader('Content-Length', length);
      } else {
        res.writeHead(200, [...FLAT, 'Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(length)]);
      }
      res.end(BODY);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', () => {
    const cpu = process.cpuUsage();
    process.send({ cpuUs: cpu.user + cpu.system });
  });
} else {
  const { default: autocannon } = await import('autocannon');
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' } } });
  const rounds = Number(values.rounds);
  const start = (form) =>
    new Promise((resolve) => {
      const child = fork(import.meta.filename, ['serve', form]);
      child.once('message', ({ port }) => resolve({ form, child, port, perRequest: [] }));
    });
  const cpu = (server) => new Promise((resolve) => server.child.once('message', ({ cpuUs }) => resolve(cpuUs)) && server.child.send('cpu'));
  const servers = [await start('setHeader'), await start('writeHead')];
  for (let round = 0; round < rounds; round++) {
    for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
      const before = await cpu(server);
      const result = await autocannon({ url: `http://127.0.0.1:${server.port}/introspect`, method: 'POST', body: '{}', connections: 32, duration: 4 });
      server.perRequest.push(((await cpu(server)) - before) / result.requests.total);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  console.log(`${rounds} alternating rounds of 4 s, 32 connections; Node.js ${process.version}`);
  console.log('| fifteen headers written with | server CPU µs per request, median (rounds) |');
  console.log('| --- | --: |');
  for (const s of servers) console.log(`| ${s.form} | ${median(s.perRequest).toFixed(1)} (${s.perRequest.map((v) => v.toFixed(1)).join(', ')}) |`);
  for (const s of servers) s.child.kill();
}
