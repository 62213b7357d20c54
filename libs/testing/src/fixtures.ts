import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './processes';
/**
 * The integration guide's example ContextEnvelope (§2), from guide_envelope.json: the one copy, which
 * the JavaScript tools (benches, the bundle smoke test) import as JSON.
 */
export const GUIDE_ENVELOPE: Readonly<{
  ts: string;
  channel: string;
  features: string[];
  processor: string;
  purpose: string;
  retention: string;
  jurisdiction: string;
  ui_copy_id: string;
}> = Object.freeze(JSON.parse(readFileSync(join(__dirname, 'guide_envelope.json'), 'utf8')));

/**
 * Writes a partners file (CTP_PARTNERS_FILE) at `path`: each partner by id with one API key hash,
 * allowed to request consent for svc://cx-ai/v1, and the given auditors. Returns `path`.
 */
export function writePartnersFile(path: string, partners: { id: string; hash: string }[], auditors: { id: string; hash: string }[] = []): string {
  const named = (id: string) => id.charAt(0).toUpperCase() + id.slice(1);
  writeFileSync(
    path,
    JSON.stringify({
      partners: partners.map(({ id, hash }) => ({ id, name: named(id), api_key_hashes: [hash], processors: ['svc://cx-ai/v1'], policy_uri: `https://${id}.example/policy` })),
      ...(auditors.length ? { auditors: auditors.map(({ id, hash }) => ({ id, name: named(id), api_key_hashes: [hash] })) } : {}),
    }),
  );
  return path;
}

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
