import type { Express } from 'express';
import { CtpError } from '@ctp/ctp-core';
import { guard, type GuardedRequest, type GuardOptions } from '@ctp/guard';
import { apiRouter, createServiceApp, type Logger } from '@ctp/http';

/** The processor this demo is: the audience (`aud`) of the tokens it accepts. */
export const PROCESSOR = 'svc://cx-ai/v1';
export const PURPOSE = 'customer_retention';
export const FEATURES = ['tone', 'sentiment'];
/** The rest of the envelope the demo partner issues its tokens for (apps/demo-partner). */
export const ENVELOPE = { channel: 'voice', processor: PROCESSOR, retention: 'session_only', jurisdiction: 'US-KY', ui_copy_id: 'consent-modal-2025-11-01#en-US' } as const;

const POSITIVE = new Set(['thanks', 'great', 'good', 'happy', 'love', 'resolved', 'perfect']);
const NEGATIVE = new Set(['cancel', 'angry', 'bad', 'broken', 'refund', 'terrible', 'wait']);

/** The "AI": tone and sentiment of a transcript by word lists (the demo is about the guard, not the model). */
export function analyse(text: string): { tone: 'calm' | 'agitated'; sentiment: number } {
  const words = text.toLowerCase().match(/[a-z']+/g) ?? [];
  const score = words.reduce((s, w) => s + (POSITIVE.has(w) ? 1 : NEGATIVE.has(w) ? -1 : 0), 0);
  return { tone: /!{2,}|[A-Z]{4,}/.test(text) ? 'agitated' : 'calm', sentiment: words.length === 0 ? 0 : Math.max(-1, Math.min(1, score / Math.sqrt(words.length))) };
}

export interface ProcessorOptions extends Omit<GuardOptions, 'consent'> {
  logger: Logger;
}

/**
 * The demo processor: `POST /v1/analyse` (and `POST /v1/pqc/analyse`, where policy/shield.cedar asks for a
 * hybrid ML-DSA-65 signature) takes `{"text": "..."}` and answers tone and sentiment, but only
 * through the guard (a signed request, channel-bound over TLS 1.3, with a consent token for
 * customer_retention: tone, sentiment). `/healthz` and `/readyz` (the validator's revocation view is
 * fresh) are open.
 */
export function createProcessorApp(options: ProcessorOptions): Express {
  const { logger, ...guardOptions } = options;
  const router = apiRouter();
  const guarded = guard({ ...guardOptions, consent: { purpose: PURPOSE, features: FEATURES, envelope: ENVELOPE } });
  // The same analysis on two routes: the policy shields require a hybrid (ML-DSA-65) signature under /v1/pqc/.
  router.post(['/v1/analyse', '/v1/pqc/analyse'], guarded, (req: GuardedRequest, res) => {
    const context = req.guard!;
    let text: unknown;
    try {
      text = (JSON.parse(context.rawBody.toString('utf8')) as { text?: unknown }).text;
    } catch {
      text = undefined;
    }
    if (typeof text !== 'string' || text.length > 10_000) {
      throw new CtpError('validation_failed', 'send {"text": "<at most 10,000 characters>"}', { errors: [{ field: 'text', rule: 'type:string', message: 'a string of at most 10,000 characters' }] });
    }
    res.json({ ...analyse(text), partner: context.partnerId, algs: context.algs, jti: context.consent.jti, receipt_id: context.receiptId });
  });
  const validator = options.validator;
  return createServiceApp({ routers: [router], readiness: validator ? { revocations: () => validator.fresh } : {}, logger });
}
