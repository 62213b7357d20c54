// Noise floor: a minimal HTTP/1.1 responder on node:net (no HTTP stack, no JSON), so the
// fixed-rate latencies it gets show what the machine, the loopback and the load generator
// cost by themselves. Reads Content-Length-framed requests; answers each with a fixed 200.
// Started by run.mjs in its own process; listens on 127.0.0.1:$PORT.
import { createServer } from 'node:net';

const ok = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nKeep-Alive: timeout=5\r\n\r\n{"status":"ok"}');
const HEADER_END = Buffer.from('\r\n\r\n');

const sockets = new Set();
const server = createServer((socket) => {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
  socket.setNoDelay(true);
  let buf = null;
  socket.on('data', (chunk) => {
    buf = buf ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const end = buf.indexOf(HEADER_END);
      if (end < 0) return;
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(buf.toString('latin1', 0, end));
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (buf.length < total) return;
      buf = buf.length > total ? buf.subarray(total) : null;
      socket.write(ok);
      if (!buf) return;
    }
  });
  socket.on('error', () => socket.destroy());
  socket.setTimeout(5_000, () => socket.destroy());
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
const stop = () => {
  for (const socket of sockets) socket.destroy();
  server.close(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
