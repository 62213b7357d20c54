// What the pilot runs on loopback: `ctp up` (its own process, dev mode, a temporary data dir), the fault
// proxy in front of it, the demo processor (in this process, TLS 1.3, with the real guard parts) reaching
// CTP only through the proxy, and a TLS relay in front of the processor that re-originates connections
// (a man in the middle with a trusted certificate: the channel binding it forwards is not its own).
import { createPrivateKey } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as tlsServer, type Server as TlsServer } from 'node:tls';
import { Redis } from 'ioredis';
import { KeyRing, MemoryNonceStore, RedisNonceStore, type BreakerTransition } from '@ctp/guard';
import { baseUrl, createLogger, listen, type Server } from '@ctp/http';
import { generateApiKey, generateSigningKey, loadSigningKeys, type SigningKeyAlg } from '@ctp/partners';
import { createLocalValidator, CtpClient, type LocalValidator, type RequestSigningKey } from '@ctp/sdk';
import { FaultProxy, freePort, makeTestCertificate, REPO_ROOT, startService, waitFor, type ServiceProcess, type TestCertificate } from '@ctp/testing';
import { createProcessorApp } from '../../apps/demo-processor/src/app';
import { processorParts, type ProcessorParts } from '../../apps/demo-processor/src/parts';
import { PILOT_BREAKER } from './plan';

export interface PilotKeys {
  es256: RequestSigningKey;
  ed25519: RequestSigningKey;
  mldsa: RequestSigningKey;
}

export interface PilotStack {
  ctpUrl: string;
  /** CTP as the processor reaches it. */
  proxy: FaultProxy;
  parts: ProcessorParts;
  validator: LocalValidator;
  /** The partner's client to CTP (direct, not through the proxy): issuing tokens. */
  client: CtpClient;
  processorUrl: string;
  relayUrl: string;
  cert: TestCertificate;
  keys: PilotKeys;
  /** The policy directory the processor's shields read (a copy of the repository's policy/). */
  policyDir: string;
  transitions: BreakerTransition[];
  close(): Promise<void>;
}

function signingKeys(): { keys: PilotKeys; entries: ReturnType<typeof generateSigningKey>['entry'][] } {
  const entries: ReturnType<typeof generateSigningKey>['entry'][] = [];
  const key = (alg: SigningKeyAlg): RequestSigningKey => {
    const { privateKeyPem, entry } = generateSigningKey('demo', alg);
    entries.push(entry);
    return { keyid: entry.kid, alg, privateKey: createPrivateKey(privateKeyPem) };
  };
  return { keys: { es256: key('ES256'), ed25519: key('Ed25519'), mldsa: key('ML-DSA-65') }, entries };
}

/** A TLS relay: terminates each connection with the test certificate and opens its own to `target`. */
async function startRelay(cert: TestCertificate, target: number): Promise<TlsServer> {
  const relay = tlsServer({ cert: cert.cert, key: cert.key, minVersion: 'TLSv1.3' }, (inbound) => {
    const outbound = tlsConnect({ host: '127.0.0.1', port: target, ca: cert.cert, servername: 'localhost', minVersion: 'TLSv1.3' });
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return relay;
}

export async function startStack(onProgress: (line: string) => void): Promise<PilotStack> {
  const dir = mkdtempSync(join(tmpdir(), 'ctp-pilot-'));
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve().then(cleanup).catch(() => undefined);
  };
  try {
    onProgress('starting ctp up (dev mode, temporary data dir) ...');
    const port = await freePort();
    const ctpUrl = `http://127.0.0.1:${port}`;
    const env = { CTP_PORT: String(port), CTP_ISSUER: ctpUrl, CTP_DEV_MODE: 'true', CTP_DATA_DIR: join(dir, 'ctp'), CTP_LEDGER_CHECKPOINT_INTERVAL_MS: '500' };
    const ctp: ServiceProcess = await startService(['apps/ctp/bin/ctp.js', 'up'], env, { readyTimeoutMs: 120_000 });
    cleanups.push(() => ctp.stop());
    await waitFor(async () => (await fetch(`${ctpUrl}/readyz`)).ok, 120_000, 'ctp up ready');
    // In dev mode CTP acts as its built-in demo partner for calls without a credential; the issuer is its URL.
    const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: Number(new URL(ctpUrl).port) } });
    cleanups.push(() => proxy.close());
    const logger = createLogger('demo-processor');
    const validator = createLocalValidator({ baseUrl: proxy.url, issuer: ctpUrl });
    await validator.ready(30_000);
    cleanups.push(() => validator.close());
    const policyDir = join(dir, 'policy');
    cpSync(join(REPO_ROOT, 'policy'), policyDir, { recursive: true });
    const transitions: BreakerTransition[] = [];
    const parts = processorParts({
      ctpUrl: proxy.url,
      policyDir,
      receiptsPath: join(dir, 'receipts.db'),
      breaker: PILOT_BREAKER,
      forwardIntervalMs: 250,
      onTransition: (t) => transitions.push(t),
      logger,
    });
    parts.forwarder.start();
    cleanups.push(() => parts.close());
    const { keys, entries } = signingKeys();
    const partnersFile = join(dir, 'partners.json');
    const partner = { id: 'demo', name: 'Demo', api_key_hashes: [generateApiKey('demo').hash], processors: ['svc://cx-ai/v1'], policy_uri: 'https://partner.example/policy', signing_keys: entries };
    writeFileSync(partnersFile, JSON.stringify({ partners: [partner] }));
    const redis = process.env.REDIS_URL ? new Redis(process.env.REDIS_URL) : null;
    if (redis) cleanups.push(() => redis.disconnect());
    const cert = makeTestCertificate();
    const app = createProcessorApp({
      keys: new KeyRing(loadSigningKeys(partnersFile)),
      nonces: redis ? new RedisNonceStore(redis, 'pilot:nonce:') : new MemoryNonceStore(),
      validator,
      ...parts.guard,
      logger,
    });
    const server: Server = await listen(app, 0, '127.0.0.1', { tls: { cert: cert.cert, key: cert.key } });
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const relay = await startRelay(cert, Number(new URL(baseUrl(server)).port));
    cleanups.push(() => void relay.close());
    const relayPort = (relay.address() as { port: number }).port;
    onProgress(`ctp up on ${ctpUrl}; fault proxy on ${proxy.url}; demo processor on ${baseUrl(server)} (nonces ${redis ? 'in Redis' : 'in process'})`);
    return {
      ctpUrl,
      proxy,
      parts,
      validator,
      client: new CtpClient({ baseUrl: ctpUrl }),
      processorUrl: baseUrl(server),
      relayUrl: `https://127.0.0.1:${relayPort}`,
      cert,
      keys,
      policyDir,
      transitions,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
