'use strict';
// Runs PGlite and its wire-protocol server on a worker thread, so the WASM
// database never blocks the service's event loop. Plain CommonJS: it runs in a
// bare worker (no TypeScript loader), also under Jest.
const { parentPort, workerData } = require('node:worker_threads');

async function main() {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create(workerData.dataDir);
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1' });
  await server.start();
  parentPort.postMessage({ address: server.getServerConn() });
  parentPort.on('message', async (message) => {
    if (message !== 'close') return;
    await server.stop();
    await db.close();
    parentPort.postMessage({ closed: true });
  });
}

main().catch((error) => parentPort.postMessage({ error: String(error && error.stack ? error.stack : error) }));
