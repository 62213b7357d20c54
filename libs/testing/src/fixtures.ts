import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './processes';
/** The integration guide's example ContextEnvelope (§2). */
export const GUIDE_ENVELOPE = Object.freeze({
  ts: '2025-11-09T20:17:00Z',
  channel: 'voice',
  features: ['tone', 'sentiment'],
  processor: 'svc://cx-ai/v1',
  purpose: 'customer_retention',
  retention: 'session_only',
  jurisdiction: 'US-KY',
  ui_copy_id: 'consent-modal-2025-11-01#en-US',
});

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, contentType: res.headers.get('content-type') ?? '', body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, text };
}

/** Asserts README.md's configuration table names every variable a config schema reads. */
export function expectReadmeDocuments(schema: { shape: object }): void {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const missing = Object.keys(schema.shape).filter((name) => !readme.includes(`\`${name}\``));
  expect(missing).toEqual([]);
}
