import { readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Express } from 'express';
import { stopTracing } from '@ctp/telemetry';

export type Server = HttpServer | HttpsServer;

/** PEM contents for TLS termination in the service itself. */
export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
}

/**
 * Reads the certificate and key files (CTP_TLS_CERT_FILE / CTP_TLS_KEY_FILE: libs/config tlsFiles).
 * Neither set: undefined (plain HTTP behind the ingress). A failure names the file only,
 * never its contents.
 */
export function loadTls(files: { certFile?: string; keyFile?: string }): TlsMaterial | undefined {
  const { certFile, keyFile } = files;
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) throw new Error('set CTP_TLS_CERT_FILE and CTP_TLS_KEY_FILE together, or neither');
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  };
  return { cert: read(certFile, 'certificate'), key: read(keyFile, 'key') };
}

/**
 * TLS 1.2 is the floor and 1.3 is negotiated whenever the client offers it. TLS 1.2
 * suites are ECDHE with AEAD only (forward secrecy, no CBC, no RSA key exchange);
 * TLS 1.3 suites are OpenSSL's defaults (all AEAD).
 */
export const TLS_OPTIONS: SecureContextOptions = {
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
};

export interface ListenOptions {
  /** Terminate TLS here; absent: plain HTTP (behind a TLS-terminating ingress). */
  tls?: TlsMaterial | undefined;
  /** Slow-client bounds; the defaults suit production, tests shorten them. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
}

/** Starts an HTTP or HTTPS server with slow-client bounds and resolves once it listens. */
export async function listen(app: Express, port: number, host: string, options: ListenOptions = {}): Promise<Server> {
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  // Node checks header/request deadlines on this period (default 30 s, which would let a
  // slowloris hold a socket for 40 s); check every second, or sooner for short timeouts.
  const connectionsCheckingInterval = Math.min(1_000, Math.max(50, Math.floor(headersTimeout / 4)));
  const server: Server = options.tls
    ? createHttpsServer({ ...TLS_OPTIONS, cert: options.tls.cert, key: options.tls.key, connectionsCheckingInterval }, app)
    : createServer({ connectionsCheckingInterval }, app);
  server.headersTimeout = headersTimeout;
  server.requestTimeout = options.requestTimeoutMs ?? 15_000;
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function baseUrl(server: Server): string {
  const address = server.address() as AddressInfo;
  const scheme = isTls(server) ? 'https' : 'http';
  return `${scheme}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

function isTls(server: Server): boolean {
  return typeof (server as HttpsServer).setSecureContext === 'function';
}

export async function close(server: Server): Promise<void> {
  server.closeIdleConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Closes the server and runs `cleanup` on SIGTERM or SIGINT, flushes batched trace spans, then exits. */
export function shutdownOnSignals(servers: Server[], cleanup?: () => Promise<void>): void {
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all(servers.map(close));
    await cleanup?.();
    await stopTracing().catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
