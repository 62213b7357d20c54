import { createHash, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { signEs256Bytes } from '@ctp/ctp-core';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { isIP, connect as netConnect } from 'node:net';

/** A registered request-signing key (`ctp partners new-signing-key`), with the keyid the guard knows it by. */
export interface RequestSigningKey {
  keyid: string;
  alg: 'ES256' | 'Ed25519' | 'ML-DSA-65';
  privateKey: KeyObject;
}

export interface SignedRequestOptions {
  /** The classical key (ES256 or Ed25519): the `ctp` signature. */
  key: RequestSigningKey;
  /** An ML-DSA-65 key: adds the `ctp-pq` signature (hybrid), for routes whose policy requires it. */
  pqKey?: RequestSigningKey;
  /** The consent token, sent in CTP-Consent-Token and covered by the signature. */
  consentToken: string;
  /** TLS options (ca, servername...); TLS 1.3 is required, and its exporter is covered (channel binding). */
  tls?: Omit<ConnectionOptions, 'host' | 'port'>;
  /** Lifetime of each signature (`expires - created`, default 30 s; the guard refuses more than its maximum age). */
  signatureSeconds?: number;
  /** Deadline of each attempt (default 5000 ms). */
  timeoutMs?: number;
}

export interface SignedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface SignedRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

const TLS_EXPORTER_LABEL = 'EXPORTER-Channel-Binding';
const NONCE = /nonce="([A-Za-z0-9_-]{1,64})"/;

/** RFC 9530 Content-Digest with sha-256 and sha-512 (a structured dictionary of byte sequences). */
export function contentDigestOf(body: Uint8Array): string {
  const digest = (alg: string) => createHash(alg).update(body).digest('base64');
  return `sha-256=:${digest('sha256')}:, sha-512=:${digest('sha512')}:`;
}

/** RFC 7638 thumbprint of a signing key's public half: what `keyBindingJkt` (token `cnf.jkt`) names. */
export function signingKeyThumbprint(key: Pick<RequestSigningKey, 'privateKey'>): Promise<string> {
  return calculateJwkThumbprint(createPublicKey(key.privateKey).export({ format: 'jwk' }) as JWK, 'sha256');
}

function signBytes(key: RequestSigningKey, data: Buffer): Buffer {
  return key.alg === 'ES256' ? signEs256Bytes(data, key.privateKey) : cryptoSign(null, data, key.privateKey);
}

const sfString = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * RFC 9421 signature headers over `components` (values as sent), one member per key, all with the same
 * parameters (in the order given; each key's `keyid` last). Returns Signature-Input and Signature.
 */
export function signatureHeaders(
  components: [name: string, value: string][],
  keys: { label: string; key: RequestSigningKey }[],
  params: Record<string, number | string>,
): { 'Signature-Input': string; Signature: string } {
  const inputs: string[] = [];
  const signatures: string[] = [];
  const common = Object.entries(params)
    .map(([name, value]) => `;${name}=${typeof value === 'number' ? String(value) : sfString(value)}`)
    .join('');
  for (const { label, key } of keys) {
    const signatureParams = `(${components.map(([name]) => sfString(name)).join(' ')})${common};keyid=${sfString(key.keyid)}`;
    const base = [...components.map(([name, value]) => `${sfString(name)}: ${value.trim()}`), `"@signature-params": ${signatureParams}`].join('\n');
    inputs.push(`${label}=${signatureParams}`);
    signatures.push(`${label}=:${signBytes(key, Buffer.from(base)).toString('base64')}:`);
  }
  return { 'Signature-Input': inputs.join(', '), Signature: signatures.join(', ') };
}

async function openSocket(url: URL, options: SignedRequestOptions): Promise<{ socket: Socket; exporter: Buffer | null }> {
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol === 'http:') {
    const socket = netConnect({ host, port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return { socket, exporter: null };
  }
  const socket: TLSSocket = tlsConnect({ ...(isIP(host) ? {} : { servername: host }), ...options.tls, host, port, minVersion: 'TLSv1.3', ALPNProtocols: ['http/1.1'] });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  return { socket, exporter: socket.exportKeyingMaterial(32, TLS_EXPORTER_LABEL, Buffer.alloc(0)) };
}

async function send(url: URL, method: string, headers: Record<string, string>, body: Buffer, options: SignedRequestOptions, nonce: string | undefined): Promise<SignedResponse> {
  const { socket, exporter } = await openSocket(url, options);
  const all: Record<string, string> = { ...headers, Host: url.host, Connection: 'close', 'Content-Length': String(body.length) };
  if (nonce !== undefined) {
    const components: [string, string][] = [
      ['@method', method],
      ['@target-uri', `${url.protocol}//${url.host}${url.pathname}${url.search}`],
      ['content-digest', all['Content-Digest']!],
      ['ctp-consent-token', all['CTP-Consent-Token']!],
    ];
    if (exporter) {
      all['CTP-Channel-Binding'] = `:${exporter.toString('base64')}:`;
      components.push(['ctp-channel-binding', all['CTP-Channel-Binding']]);
    }
    const created = Math.floor(Date.now() / 1000);
    const keys = [{ label: 'ctp', key: options.key }, ...(options.pqKey ? [{ label: 'ctp-pq', key: options.pqKey }] : [])];
    Object.assign(all, signatureHeaders(components, keys, { created, expires: created + (options.signatureSeconds ?? 30), nonce }));
  }
  return new Promise<SignedResponse>((resolve, reject) => {
    const req = httpRequest({ createConnection: () => socket, method, path: `${url.pathname}${url.search}`, headers: all, timeout: options.timeoutMs ?? 5000 });
    req.once('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within ${options.timeoutMs ?? 5000} ms`)));
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.once('error', reject);
    });
    req.end(body);
  });
}

/**
 * One request to a route protected by `@ctp/guard`: sent with the consent token and Content-Digest; on the
 * guard's 401 challenge, signed (RFC 9421) with the challenge's nonce over method, target URI, digest, token
 * and (over TLS 1.3) the connection's exporter, and sent again on a new connection. A nonce that was
 * refused (expired, or used by a concurrent request) gets one more challenge round.
 */
export async function signedRequest(target: string | URL, init: SignedRequestInit, options: SignedRequestOptions): Promise<SignedResponse> {
  const url = new URL(target);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`signedRequest needs an http(s) URL, got ${url.protocol}`);
  const method = (init.method ?? 'GET').toUpperCase();
  const body = init.body === undefined ? Buffer.alloc(0) : Buffer.from(init.body);
  const headers = { ...init.headers, 'CTP-Consent-Token': options.consentToken, 'Content-Digest': contentDigestOf(body) };
  let response = await send(url, method, headers, body, options, undefined);
  for (let round = 0; round < 2 && response.status === 401; round++) {
    const nonce = NONCE.exec(String(response.headers['accept-signature'] ?? ''))?.[1];
    if (nonce === undefined) break;
    response = await send(url, method, headers, body, options, nonce);
  }
  return response;
}
