import type { IncomingMessage, ServerResponse } from 'node:http';
import { CtpError, decodeCompactJws, decodeJwsPayload, type ContextEnvelope, type IntrospectionResult, type ProblemCode } from '@ctp/ctp-core';
import { consentEnvelope, type CtpClient, type LocalValidator } from '@ctp/sdk';
import { sendConsentDenied, type EnvelopeContext } from '@ctp/sdk/express';
import { acceptSignature, wwwAuthenticate } from './challenge';
import { channelBindingMatches, tlsExporter } from './channel_binding';
import { checkContentDigest } from './content_digest';
import type { BreakerState, GuardBreaker, PolicyShield, ReceiptInput, ReceiptSink, ShieldDecision } from './contracts';
import { REQUIRE_NOTHING_SHIELD } from './defaults';
import type { KeyRing } from './keys';
import { ChallengeNonces, type NonceStore } from './nonce_store';
import {
  CHANNEL_BINDING_FIELD,
  CONSENT_TOKEN_FIELD,
  declaredSignatures,
  REQUIRED_COMPONENTS,
  verifyDeclared,
  type DeclaredSignature,
  type SignaturePolicy,
} from './request_signature';

export interface GuardOptions {
  /** The partners' registered request-signing keys. */
  keys: KeyRing;
  /**
   * Where used challenge nonces are remembered (single use): RedisNonceStore across replicas,
   * MemoryNonceStore in one process. Challenges themselves store nothing (see ChallengeNonces).
   */
  nonces: NonceStore;
  /** Authenticates the challenge nonces: at least 32 bytes, the same on every replica of the route (default random: one replica). */
  nonceSecret?: Uint8Array;
  /** What the consent token must grant on this route. */
  consent: { purpose: string; features: string[]; envelope: EnvelopeContext | ((req: IncomingMessage) => EnvelopeContext) };
  /** Decide consent in process (the SDK's local validator)... */
  validator?: LocalValidator;
  /** ...or through POST /introspect; with both, the validator serves decisions while the breaker is open (`degrade`). */
  client?: Pick<CtpClient, 'introspect'>;
  /** Default: REQUIRE_NOTHING_SHIELD. */
  shield?: PolicyShield;
  /** Around the call to CTP (introspection, or the validator's revocation feed). */
  breaker?: GuardBreaker;
  /** Every decision after a signature was presented is recorded; the response carries `Receipt-Id`. */
  receipts?: ReceiptSink;
  /** The public origin for `@target-uri` (e.g. https://processor.example): set it behind a proxy. Default: from the connection and Host. */
  origin?: string;
  /** Oldest signature accepted and longest `expires - created` (default 60 s). */
  maxAgeSeconds?: number;
  /** Clock tolerance (default 5 s). */
  toleranceSeconds?: number;
  /** How long a challenge nonce can be used (default 30 s). */
  nonceTtlMs?: number;
  /** Largest body read and digested (default 64 KiB); larger requests get 413. */
  maxBodyBytes?: number;
}

/** What a guarded request's handler learns (`req.guard`). */
export interface GuardContext {
  partnerId: string;
  keyid: string;
  algs: string[];
  consent: IntrospectionResult;
  decision: ShieldDecision;
  breakerState: BreakerState;
  /** The body exactly as signed and digested. */
  rawBody: Buffer;
  receiptId: string | null;
}

export type GuardedRequest = IncomingMessage & { guard?: GuardContext; originalUrl?: string };

export const RECEIPT_ID_HEADER = 'Receipt-Id';

class Refusal extends Error {
  constructor(
    readonly code: ProblemCode,
    detail: string,
    readonly challenge: 'none' | 'classical' | 'hybrid' = 'none',
  ) {
    super(detail);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (req.readableEnded) return reject(new Error('the request body was read before the guard: mount guard() before any body parser'));
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new Refusal('body_too_large', `the body is larger than ${limit} bytes`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new Refusal('body_too_large', `the body is larger than ${limit} bytes`));
      } else chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

const single = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value.join(', ') : value);

/**
 * Express (or plain node:http) middleware protecting a route: RFC 9421 signed request with a single-use
 * nonce (401 challenge first), content digest, TLS channel binding, optional hybrid ML-DSA-65 signature,
 * consent token validation, policy shield, breaker, receipt; then `next()`. Anything refused is an RFC
 * 9457 problem with a code of CTP's registry (docs/errors.md), and never reaches the handler.
 */
export function guard(options: GuardOptions) {
  if (!options.validator && !options.client) throw new TypeError('guard needs a validator or a client (or both)');
  const shield = options.shield ?? REQUIRE_NOTHING_SHIELD;
  const policy: SignaturePolicy = { maxAgeSeconds: options.maxAgeSeconds ?? 60, toleranceSeconds: options.toleranceSeconds ?? 5 };
  const nonceTtlMs = options.nonceTtlMs ?? 30_000;
  const challenges = new ChallengeNonces(options.nonces, options.nonceSecret);
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const envelopes = new Map<string, Readonly<ContextEnvelope>>();
  const envelopeFor = (context: EnvelopeContext): Readonly<ContextEnvelope> => {
    const key = JSON.stringify(context);
    let envelope = envelopes.get(key);
    if (!envelope) {
      envelope = consentEnvelope({ ...context, purpose: options.consent.purpose, features: [...options.consent.features], ts: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
      if (envelopes.size >= 1000) envelopes.clear();
      envelopes.set(key, envelope);
    }
    return envelope;
  };

  function challenge(res: ServerResponse, secure: boolean, hybrid: boolean): void {
    const nonce = challenges.mint();
    res.setHeader('WWW-Authenticate', wwwAuthenticate(nonce));
    res.setHeader('Accept-Signature', acceptSignature({ nonce, channelBinding: secure, hybrid }));
  }

  function refuse(res: ServerResponse, refusal: Refusal, secure: boolean): void {
    if (refusal.challenge !== 'none') challenge(res, secure, refusal.challenge === 'hybrid');
    const error = new CtpError(refusal.code, refusal.message);
    res.statusCode = error.status;
    res.setHeader('Content-Type', 'application/problem+json');
    res.setHeader('Cache-Control', 'no-store');
    res.end(JSON.stringify(error.toProblem()));
  }

  /** The consent decision through the breaker: CTP when it may be called, else the availability floor. */
  async function decideConsent(token: string, envelope: ContextEnvelope, decision: ShieldDecision): Promise<IntrospectionResult> {
    const breaker = options.breaker;
    const { client, validator } = options;
    const primary = client ? client.introspect.bind(client) : validator ? validator.decide.bind(validator) : undefined;
    if (!primary) throw new TypeError('guard needs a validator or a client');
    if (breaker && !breaker.tryAcquire()) {
      if (decision.whenOpen === 'degrade' && options.validator) return options.validator.decide(token, envelope);
      throw new Refusal('unavailable', `CTP is unavailable (breaker open) and policy ${decision.policyId} fails closed`);
    }
    const started = performance.now();
    try {
      const result = await primary(token, envelope);
      breaker?.record({ ok: result.reason !== 'revocation_unavailable', latencyMs: performance.now() - started });
      return result;
    } catch {
      breaker?.record({ ok: false, latencyMs: performance.now() - started });
      if (decision.whenOpen === 'degrade' && options.validator && options.client) return options.validator.decide(token, envelope);
      throw new Refusal('unavailable', 'CTP could not be reached to check the consent token');
    }
  }

  function receipt(res: ServerResponse, input: Omit<ReceiptInput, 'at' | 'breakerState'>): string | null {
    if (!options.receipts) return null;
    const id = options.receipts.record({ ...input, breakerState: options.breaker?.state ?? 'closed', at: Date.now() });
    res.setHeader(RECEIPT_ID_HEADER, id);
    return id;
  }

  async function check(req: GuardedRequest, res: ServerResponse, secure: boolean): Promise<boolean> {
    const headers = req.headers as Record<string, string | string[]>;
    const declared = declaredSignatures(headers, options.keys);
    if (!declared.ok) throw new Refusal(declared.code, declared.detail, 'classical');
    const { classical, pq } = declared;
    const target = req.originalUrl ?? req.url ?? '/';
    const query = target.indexOf('?');
    const path = query === -1 ? target : target.slice(0, query);
    const route = { method: req.method ?? 'GET', path };
    const decision = shield.decide(route, classical.key.partnerId);
    const algs = [classical.key.alg, ...(pq ? [pq.key.alg] : [])];
    const base = { method: route.method, path, policyId: decision.policyId, policyHash: decision.policyHash };
    let contentDigest: string | null = null;
    let jti: string | null = null;
    try {
      if (decision.requireHybrid && !pq) throw new Refusal('hybrid_signature_required', `policy ${decision.policyId} requires a ${'ctp-pq'} ML-DSA-65 signature`, 'hybrid');
      const exporter = tlsExporter(req.socket);
      if (decision.requireChannelBinding && !exporter) throw new Refusal('channel_binding_mismatch', `policy ${decision.policyId} requires channel binding, and this connection is not TLS 1.3`);
      const required: string[] = [...REQUIRED_COMPONENTS];
      if (exporter) {
        if (!classical.components.includes(CHANNEL_BINDING_FIELD)) throw new Refusal('channel_binding_mismatch', `over TLS 1.3 the signature must cover ${CHANNEL_BINDING_FIELD}`);
        if (!channelBindingMatches(single(headers[CHANNEL_BINDING_FIELD]), exporter)) throw new Refusal('channel_binding_mismatch', 'the signed channel binding is not this connection\'s tls-exporter value');
        required.push(CHANNEL_BINDING_FIELD);
      }
      const origin = options.origin ?? `${secure ? 'https' : 'http'}://${single(headers.host) ?? 'localhost'}`;
      const message = { method: route.method, url: origin + target, headers };
      for (const sig of [classical, ...(pq ? [pq] : [])] as DeclaredSignature[]) {
        const verified = await verifyDeclared(message, sig, required, policy, pq === undefined);
        if (!verified.ok) throw new Refusal(verified.code, verified.detail, 'classical');
      }
      const issuedAtMs = await challenges.redeem(classical.nonce, nonceTtlMs);
      if (issuedAtMs === null) throw new Refusal('nonce_invalid', 'the nonce is unknown, expired or already used', 'classical');
      if (classical.created < Math.floor(issuedAtMs / 1000) - policy.toleranceSeconds) throw new Refusal('nonce_invalid', 'the signature was created before its challenge', 'classical');
      const rawBody = await readBody(req, maxBodyBytes);
      contentDigest = single(headers['content-digest']) ?? null;
      const digest = checkContentDigest(contentDigest ?? undefined, rawBody);
      if (!digest.ok) throw new Refusal('content_digest_mismatch', digest.detail);
      // Present: the verified signature covers it.
      const token = single(headers[CONSENT_TOKEN_FIELD]) ?? '';
      const context = typeof options.consent.envelope === 'function' ? options.consent.envelope(req) : options.consent.envelope;
      const consent = await decideConsent(token, envelopeFor(context), decision);
      jti = consent.jti;
      if (consent.decision !== 'allow') {
        receipt(res, { ...base, decision: 'deny', reason: consent.reason ?? 'malformed', contentDigest, jti, algs });
        sendConsentDenied(res, consent.reason ?? 'malformed');
        return false;
      }
      const cnf = boundThumbprint(token);
      if (cnf !== undefined && cnf !== classical.key.jkt) throw new Refusal('key_binding_mismatch', 'the consent token is bound to another key (cnf.jkt)');
      if (decision.requireKeyBinding && cnf === undefined) throw new Refusal('key_binding_mismatch', `policy ${decision.policyId} requires a key-bound consent token (cnf.jkt)`);
      const receiptId = receipt(res, { ...base, decision: 'allow', reason: 'verified', contentDigest, jti, algs });
      req.guard = { partnerId: classical.key.partnerId, keyid: classical.keyid, algs, consent, decision, breakerState: options.breaker?.state ?? 'closed', rawBody, receiptId };
      return true;
    } catch (error) {
      if (error instanceof Refusal) receipt(res, { ...base, decision: 'deny', reason: error.code, contentDigest, jti, algs });
      throw error;
    }
  }

  return (req: GuardedRequest, res: ServerResponse, next: (error?: unknown) => void): void => {
    const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
    check(req, res, secure).then(
      (allowed) => (allowed ? next() : undefined),
      (error: unknown) => (error instanceof Refusal ? refuse(res, error, secure) : next(error)),
    );
  };
}

/** The `cnf.jkt` of a token the validator already verified (undefined: not key-bound). */
function boundThumbprint(token: string): string | undefined {
  const decoded = decodeCompactJws(token);
  const payload = decoded.ok ? decodeJwsPayload(decoded.jws) : null;
  const cnf = payload?.cnf as { jkt?: unknown } | undefined;
  return typeof cnf?.jkt === 'string' ? cnf.jkt : undefined;
}
