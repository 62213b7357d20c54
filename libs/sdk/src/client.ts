import { randomUUID } from 'node:crypto';
import type { ContextEnvelope, FunnelOutcome, GuardReceipt, IntrospectionResult } from '@ctp/ctp-core';
import { CtpApiError } from './errors';
import { backoffMs, parseRetryAfter, resolveRetry, type ResolvedRetry, type RetryOptions } from './retry';

export interface CtpClientOptions {
  /** CTP's base URL, e.g. http://127.0.0.1:8000 (`ctp up`) or https://ctp.example.com. */
  baseUrl: string;
  /** The partner API key (`Authorization: Bearer`); leave it out only against a dev-mode `ctp up`. */
  apiKey?: string;
  /** Deadline of each attempt (default 2000 ms). */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** A fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
}

export interface IssueOptions {
  /** Your stable reference for the person (pairwise `sub`); not hashed, not in the token. */
  subjectRef?: string;
  /**
   * Idempotency-Key for this issuance. Default: a fresh UUID per call, so a retry after a
   * timeout returns the token the first attempt issued instead of issuing a second one.
   * `false` sends none: then only answers that prove nothing was issued (429, 503, refused
   * connection) are retried.
   */
  idempotencyKey?: string | false;
  /**
   * Bind the token to your request-signing key (`cnf.jkt`): the RFC 7638 thumbprint of its public key
   * (`signingKeyThumbprint`). A route protected by `@ctp/guard` then accepts it only signed with that key.
   */
  keyBindingJkt?: string;
}

export interface IssuedToken {
  token: string;
  jti: string;
  /** RFC 3339 expiry, as CTP sent it. */
  expires_at: string;
}

export interface RevokeResult {
  status: 'ok';
  revoked: string;
}

/** One consent-dialog outcome for CTP's funnel counters: the consent's context, never the person. */
/** CTP's acknowledgement of one forwarded receipt: its ledger event id. */
export interface ReceiptAcknowledgement {
  id: string;
  event_id: string;
}

export interface FunnelEvent {
  outcome: FunnelOutcome;
  purpose: string;
  features: string[];
  ui_copy_id: string;
  jurisdiction: string;
  /** When it happened (default: now). */
  at?: Date | string;
  /** Default: a fresh UUID, kept across retries so the event counts once. */
  event_id?: string;
}

type Safety = 'idempotent' | 'not-idempotent';

const USER_AGENT = 'ctp-sdk/0.1.0';

/** Network failures that prove the request never reached CTP. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function transportError(error: unknown, attempts: number): CtpApiError {
  if (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return new CtpApiError('timeout', 'CTP did not answer within the timeout', { cause: error, attempts });
  }
  return new CtpApiError('network', `the connection to CTP failed: ${(error as Error).message}`, { cause: error, attempts });
}

const causeCode = (error: unknown): string | undefined => {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
};

/**
 * The three partner calls (and funnel events) over HTTP, with typed results, the error codes of
 * CTP's registry as CtpApiError, per-attempt timeouts, and retries with full-jitter backoff on
 * 429, 5xx and network failures (honouring Retry-After). A call that may have landed is retried
 * only when repeating it is harmless: introspect and revoke always, issue when it carries an
 * Idempotency-Key (the default).
 */
export class CtpClient {
  readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly timeoutMs: number;
  private readonly retry: ResolvedRetry;
  private readonly fetchImpl: typeof fetch;

  constructor(options: CtpClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.retry = resolveRetry(options.retry);
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** POST /issue: call after the person agreed, with the exact envelope they saw. */
  async issue(envelope: ContextEnvelope, options: IssueOptions = {}): Promise<IssuedToken> {
    const key = options.idempotencyKey === undefined ? randomUUID() : options.idempotencyKey;
    const body = {
      ...envelope,
      ...(options.subjectRef === undefined ? {} : { subject_ref: options.subjectRef }),
      ...(options.keyBindingJkt === undefined ? {} : { key_binding: { jkt: options.keyBindingJkt } }),
    };
    const headers: Record<string, string> = key === false ? {} : { 'idempotency-key': `"${key}"` };
    const issued = await this.send<IssuedToken>('/issue', body, key === false ? 'not-idempotent' : 'idempotent', headers);
    if (typeof issued.token !== 'string' || typeof issued.jti !== 'string' || typeof issued.expires_at !== 'string') {
      throw new CtpApiError('invalid_response', 'POST /issue answered without token, jti and expires_at');
    }
    return { token: issued.token, jti: issued.jti, expires_at: issued.expires_at };
  }

  /** POST /introspect: the service's decision for this token and context. */
  async introspect(token: string, envelope: ContextEnvelope): Promise<IntrospectionResult> {
    const result = await this.send<IntrospectionResult>('/introspect', { token, context_envelope: envelope }, 'idempotent');
    if (result.decision !== 'allow' && result.decision !== 'deny') throw new CtpApiError('invalid_response', 'POST /introspect answered without a decision');
    return result;
  }

  /** POST /revoke (idempotent): every later check of the token denies with `revoked`. */
  async revoke(jti: string, reason?: string): Promise<RevokeResult> {
    return this.send<RevokeResult>('/revoke', reason === undefined ? { jti } : { jti, reason }, 'idempotent');
  }

  /** POST /funnel-events: one consent-dialog outcome (shown, agreed, declined, revoked). */
  async recordFunnelEvent(event: FunnelEvent): Promise<{ status: 'ok'; event_id: string }> {
    const at = event.at === undefined ? new Date() : event.at;
    const body = {
      event_id: event.event_id ?? randomUUID(),
      outcome: event.outcome,
      purpose: event.purpose,
      features: event.features,
      ui_copy_id: event.ui_copy_id,
      jurisdiction: event.jurisdiction,
      at: typeof at === 'string' ? at : at.toISOString(),
    };
    return this.send('/funnel-events', body, 'idempotent');
  }

  /**
   * POST /receipts: a batch (at most 100) of the guard's receipts for the ledger. Idempotent by
   * receipt id: a batch sent again is acknowledged again and stored once.
   */
  async forwardReceipts(receipts: readonly GuardReceipt[]): Promise<ReceiptAcknowledgement[]> {
    const answer = await this.send<{ receipts?: unknown }>('/receipts', { receipts }, 'idempotent');
    if (!Array.isArray(answer.receipts)) throw new CtpApiError('invalid_response', 'POST /receipts answered without receipts');
    return answer.receipts as ReceiptAcknowledgement[];
  }

  private async send<T>(path: string, body: object, safety: Safety, headers: Record<string, string> = {}): Promise<T> {
    const payload = JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await this.fetchImpl(`${this.baseUrl}${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': USER_AGENT,
            ...(this.apiKey === undefined ? {} : { authorization: `Bearer ${this.apiKey}` }),
            ...headers,
          },
          body: payload,
          signal: AbortSignal.timeout(this.timeoutMs),
          redirect: 'error',
        });
      } catch (error) {
        const mayRetry = safety === 'idempotent' || NOT_SENT.has(causeCode(error) ?? '');
        if (mayRetry && attempt < this.retry.retries) {
          await sleep(backoffMs(attempt, this.retry, undefined));
          continue;
        }
        throw transportError(error, attempt + 1);
      }
      const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
      const text = await response.text().catch(() => '');
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (response.ok) {
        if (typeof parsed !== 'object' || parsed === null) throw new CtpApiError('invalid_response', `POST ${path} answered ${response.status} without a JSON object`, { status: response.status });
        return parsed as T;
      }
      const error = CtpApiError.fromProblem(response.status, parsed, retryAfter);
      // 429 and 503 promise that nothing changed; other 5xx (and a concurrent attempt with the same key) may have landed.
      const nothingChanged = response.status === 429 || response.status === 503;
      const retryable = nothingChanged || (safety === 'idempotent' && (response.status >= 500 || error.code === 'idempotency_key_in_progress'));
      if (!retryable || attempt >= this.retry.retries) {
        throw new CtpApiError(error.code, error.message, { status: error.status, errors: error.errors, retryAfterSeconds: retryAfter, attempts: attempt + 1 });
      }
      await sleep(backoffMs(attempt, this.retry, retryAfter));
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
