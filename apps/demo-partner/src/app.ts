import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import express, { type Request, type Response } from 'express';
import { consentEnvelope, CtpClient, TokenCache, type ConsentState, type ContextEnvelope, type LocalValidator } from '@ctp/sdk';
import { requireConsent, type ConsentRequest, type EnvelopeContext } from '@ctp/sdk/express';
import { demoPage } from './page';

/** The consent this demo asks for: the integration guide's example. */
export const DEMO_PURPOSE = 'customer_retention';
export const DEMO_FEATURES = ['tone', 'sentiment'];
export const DEMO_COPIES = { en: 'consent-modal-2025-11-01#en-US', de: 'consent-modal-2025-11-01#de-DE' } as const;
const CONTEXT: Omit<EnvelopeContext, 'ui_copy_id'> = { channel: 'voice', processor: 'svc://cx-ai/v1', retention: 'session_only', jurisdiction: 'US-KY' };

export interface DemoOptions {
  client: CtpClient;
  validator: LocalValidator;
  /** How long an agreement holds before the dialog shows "expired" (the session consent; tokens renew within it). */
  consentSeconds?: number;
  onError?: (error: unknown) => void;
}

interface Session {
  /** A pseudonymous subject reference for this visitor (no personal data). */
  subject: string;
  state: ConsentState;
  uiCopyId: string;
  consentEndsAt?: number;
  /** The last token used, kept after a revocation so the live view shows CTP's own deny. */
  token?: string;
}

const COOKIE = 'demo_session';
const MAX_SESSIONS = 10_000;

/**
 * The partner side of the demo: the page with <ctp-consent>, the consent endpoints the element
 * calls (which issue and revoke through the SDK and relay funnel events; the API key never
 * reaches the browser), an analysis route behind requireConsent (decided locally), and the live
 * decision the page polls.
 */
export async function createDemoApp(options: DemoOptions): Promise<express.Express> {
  const { client, validator } = options;
  const consentMs = (options.consentSeconds ?? 1800) * 1000;
  const tokens = new TokenCache({ client });
  const sessions = new Map<string, Session>();
  // The element as a partner serves it: one ES module bundled from the SDK's consent-element entry.
  const element = await build({ stdin: { contents: "import '@ctp/sdk/consent-element';", resolveDir: __dirname, loader: 'js' }, bundle: true, format: 'esm', target: 'es2022', write: false, minify: true });
  const elementJs = element.outputFiles[0]!.text;
  const pageJs = readFileSync(join(__dirname, 'public', 'demo.js'), 'utf8');

  const envelopeOf = (session: Session): ContextEnvelope =>
    consentEnvelope({ ...CONTEXT, purpose: DEMO_PURPOSE, features: [...DEMO_FEATURES], ui_copy_id: session.uiCopyId, ts: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });

  const sessionOf = (req: Request, res: Response): Session => {
    const id = /(?:^|;\s*)demo_session=([A-Za-z0-9_-]{43})/.exec(req.headers.cookie ?? '')?.[1];
    const known = id === undefined ? undefined : sessions.get(id);
    if (known) {
      if (known.state === 'granted' && Date.now() >= known.consentEndsAt!) known.state = 'expired';
      return known;
    }
    // A demo keeps visitors in memory; the oldest go first beyond MAX_SESSIONS.
    if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
    const fresh = randomBytes(32).toString('base64url');
    const session: Session = { subject: `visitor-${randomBytes(9).toString('base64url')}`, state: 'none', uiCopyId: DEMO_COPIES.en };
    sessions.set(fresh, session);
    res.setHeader('Set-Cookie', `${COOKIE}=${fresh}; Path=/; HttpOnly; SameSite=Strict`);
    return session;
  };

  const stateBody = (s: Session) => ({ state: s.state, ...(s.state === 'granted' ? { expires_at: new Date(s.consentEndsAt!).toISOString() } : {}) });

  const relay = (session: Session, outcome: 'shown' | 'agreed' | 'declined' | 'revoked') =>
    void client
      .recordFunnelEvent({ outcome, purpose: DEMO_PURPOSE, features: DEMO_FEATURES, ui_copy_id: session.uiCopyId, jurisdiction: CONTEXT.jurisdiction })
      .catch((error: unknown) => options.onError?.(error));

  /** The token for a request: renewed through the cache while consent holds, else the last one (CTP then denies it). */
  const tokenOf = async (session: Session): Promise<string | undefined> => {
    if (session.state === 'granted') session.token = (await tokens.get(session.subject, envelopeOf(session))).token;
    return session.token;
  };

  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.get('/', (req, res) => {
    const session = sessionOf(req, res);
    session.uiCopyId = req.query.lang === 'de' ? DEMO_COPIES.de : DEMO_COPIES.en;
    res.type('html').send(demoPage({ lang: req.query.lang === 'de' ? 'de' : 'en', purpose: DEMO_PURPOSE, features: DEMO_FEATURES, uiCopyId: session.uiCopyId }));
  });
  app.get('/assets/ctp-consent.js', (_req, res) => void res.type('text/javascript').send(elementJs));
  app.get('/assets/demo.js', (_req, res) => void res.type('text/javascript').send(pageJs));
  app.get('/assets/demo.css', (_req, res) => void res.type('text/css').send(DEMO_CSS));

  app.get('/consent', (req, res) => void res.json(stateBody(sessionOf(req, res))));
  // State changes need the element's custom header: a cross-site form cannot send it.
  const fromElement = (req: Request, res: Response, next: () => void) => (req.headers['x-ctp-consent'] === '1' ? next() : void res.status(403).json({ error: 'missing X-CTP-Consent header' }));
  app.post('/consent/:action', fromElement, async (req, res) => {
    const session = sessionOf(req, res);
    switch (req.params.action) {
      case 'shown':
        relay(session, 'shown');
        break;
      case 'agree':
        session.state = 'granted';
        session.consentEndsAt = Date.now() + consentMs;
        session.token = (await tokens.get(session.subject, envelopeOf(session))).token;
        relay(session, 'agreed');
        break;
      case 'decline':
        session.state = 'declined';
        relay(session, 'declined');
        break;
      case 'revoke':
        // Withdrawal first, the UI second: every token of this person is revoked before we answer.
        for (const jti of await tokens.forget(session.subject)) await client.revoke(jti, 'user_revoked');
        session.state = 'revoked';
        relay(session, 'revoked');
        break;
      default:
        return void res.status(404).json({ error: 'unknown action' });
    }
    res.json(stateBody(session));
  });

  const protectedAnalysis = requireConsent({
    purpose: DEMO_PURPOSE,
    features: DEMO_FEATURES,
    envelope: (req) => ({ ...CONTEXT, ui_copy_id: sessions.get(/demo_session=([A-Za-z0-9_-]{43})/.exec(req.headers.cookie ?? '')?.[1] ?? '')?.uiCopyId ?? DEMO_COPIES.en }),
    validator,
    token: (req) => {
      const session = sessions.get(/demo_session=([A-Za-z0-9_-]{43})/.exec(req.headers.cookie ?? '')?.[1] ?? '');
      return session ? tokenOf(session) : undefined;
    },
  });
  app.post('/api/analyse', fromElement, protectedAnalysis, (req, res) => {
    const consent = (req as ConsentRequest).consent!;
    res.json({ summary: 'tone calm, sentiment positive (demo result)', jti: consent.jti, scope: consent.scope });
  });
  app.get('/api/decision', async (req, res) => {
    const session = sessionOf(req, res);
    const token = await tokenOf(session);
    if (token === undefined) return void res.json({ decision: 'deny', reason: 'consent_missing' });
    const decision = await validator.decide(token, envelopeOf(session));
    res.json({ decision: decision.decision, reason: decision.reason });
  });
  return app;
}

const DEMO_CSS = `
body { margin: 0; font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; background: #f4f4f4; }
main { max-width: 44rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; }
section.panel { background: #ffffff; border: 2px solid #595959; border-radius: 8px; padding: 1rem 1.25rem; margin-top: 1rem; overflow-wrap: anywhere; }
button { font: inherit; font-weight: 600; min-height: 44px; padding: 0.5rem 1.25rem; border-radius: 6px; border: 2px solid #0b3d91; background: #0b3d91; color: #ffffff; cursor: pointer; }
button:focus-visible, a:focus-visible { outline: 3px solid #1b1b1b; outline-offset: 3px; }
a { color: #0b3d91; }
`;
