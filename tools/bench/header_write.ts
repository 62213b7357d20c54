// What writing a response's fifteen headers costs node:http: one `setHeader` call each (how
// express routes, and the hot routes before, set them) against one `writeHead` with the whole
// list (the hot routes now: libs/http/src/security_headers.ts, whose header set this uses). Two
// bare node:http servers, one per form, each in its own process answering the same JSON body;
// closed loop with autocannon (32 connections, 4 s) in alternating rounds; server CPU µs per
// request.
// Run: npm run bench:headers [-- --rounds 6]
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { SECURITY_HEADERS } from '../../libs/http/src/security_headers';

const FLAT = SECURITY_HEADERS.flat();
const BODY = JSON.stringify({ active: true, decision: 'allow', reason: null, jti: '8f0f0c4e-1111-4222-8333-944444444444', purpose: 'customer_retention', exp: 1799999999 });

function serve(form: string): void {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const length = Buffer.byteLength(BODY);
      if (form === 'setHeader') {
        for (const [name, value] of SECURITY_HEADERS) res.setHeader(name, value);
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.setHeader('Content-Length', length);
      } else {
        res.writeHead(200, [...FLAT, 'Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(length)]);
      }
      res.end(BODY);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on('message', () => {
    const cpu = process.cpuUsage();
    process.send!({ cpuUs: cpu.user + cpu.system });
  });
}

interface Server {
  form: string;
  child: ChildProcess;
  port: number;
  perRequest: number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' } } });
  const rounds = Number(values.rounds);
  // The child runs this file as this process does (execArgv: tsx).
  const start = (form: string) =>
    new Promise<Server>((resolve) => {
      const child = fork(__filename, ['serve', form]);
      child.once('message', (m) => resolve({ form, child, port: (m as { port: number }).port, perRequest: [] }));
    });
  const cpu = (server: Server) =>
    new Promise<number>((resolve) => {
      server.child.once('message', (m) => resolve((m as { cpuUs: number }).cpuUs));
      server.child.send('cpu');
    });
  const servers = [await start('setHeader'), await start('writeHead')];
  for (let round = 0; round < rounds; round++) {
    for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
      const before = await cpu(server);
      const result = await autocannon({ url: `http://127.0.0.1:${server.port}/introspect`, method: 'POST', body: '{}', connections: 32, duration: 4 });
      server.perRequest.push(((await cpu(server)) - before) / result.requests.total);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  console.log(`${rounds} alternating rounds of 4 s, 32 connections; Node.js ${process.version}`);
  console.log('| fifteen headers written with | server CPU µs per request, median (rounds) |');
  console.log('| --- | --: |');
  for (const s of servers) console.log(`| ${s.form} | ${median(s.perRequest).toFixed(1)} (${s.perRequest.map((v) => v.toFixed(1)).join(', ')}) |`);
  for (const s of servers) s.child.kill();
}

if (process.argv[2] === 'serve') serve(process.argv[3]!);
else void main();
