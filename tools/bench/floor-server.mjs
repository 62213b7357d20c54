// The floor: a bare express 5 JSON echo server (express.json(), echo the body).
// Started by run.mjs in its own process; listens on 127.0.0.1:$PORT and prints "ready".
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(express.json({ limit: '16kb' }));
app.post('/introspect', (req, res) => {
  res.json(req.body);
});
app.get('/readyz', (_req, res) => {
  res.json({ status: 'ready' });
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
server.keepAliveTimeout = 5_000;
const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
