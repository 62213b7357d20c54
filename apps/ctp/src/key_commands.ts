import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { generateOperatorKey, KEY_CHANGE_ACTIONS, loadOperatorKey, signStatement, type KeyChangeAction } from '@ctp/keys';
import { CliError, request, type Output } from './output';
import { generateSigningKey, SIGNING_KEY_ALGS, type SigningKeyAlg } from '@ctp/partners';

export interface KeyCommandOptions {
  url?: string;
  operator?: string;
  kid?: string;
  expiresIn?: string;
  operatorKey?: string;
  out?: string;
}

export const baseUrl = (url: string | undefined) => url ?? process.env.CTP_URL ?? 'http://127.0.0.1:8000';

async function call(url: string, method: 'GET' | 'POST', body?: object): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await request(url, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  try {
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  } catch {
    throw new CliError(`${method} ${url} answered HTTP ${response.status} without a JSON body`);
  }
}

/** The service's answer is the result: pretty JSON for people, one line with --json. */
function report(result: { status: number; body: Record<string, unknown> }, output: Output): number {
  console.log(output.json ? JSON.stringify(result.body) : JSON.stringify(result.body, null, 2));
  return result.status < 300 ? 0 : 1;
}

function signer(options: KeyCommandOptions): { operator: string; key: ReturnType<typeof loadOperatorKey> } {
  if (!options.operator || !options.operatorKey) throw new CliError('--operator <id> and --operator-key <file> are required');
  return { operator: options.operator, key: loadOperatorKey(options.operatorKey) };
}

/** `ctp keys propose rotate|revoke`: opens a change carrying the proposer's signed approval. */
export async function proposeCommand(action: string, options: KeyCommandOptions, output: Output): Promise<number> {
  if (!KEY_CHANGE_ACTIONS.includes(action as KeyChangeAction)) throw new CliError(`action must be one of ${KEY_CHANGE_ACTIONS.join(', ')}`);
  const base = baseUrl(options.url);
  const { operator, key } = signer(options);
  let kid = options.kid;
  if (!kid) {
    if (action === 'revoke') throw new CliError('revoke needs --kid <the compromised kid>');
    const status = await call(`${base}/admin/keys`, 'GET');
    kid = (status.body.keys as { kid: string; status: string }[]).find((k) => k.status === 'active')?.kid;
    if (!kid) throw new CliError('the service reports no active key');
  }
  const expiresIn = Number(options.expiresIn ?? 3600);
  if (!Number.isInteger(expiresIn) || expiresIn < 60) throw new CliError('--expires-in must be a whole number of seconds, at least 60');
  const statement = { change_id: `kc-${randomUUID()}`, action: action as KeyChangeAction, kid, operator, expires_at: Math.floor(Date.now() / 1000) + expiresIn };
  const signature = signStatement(statement, key);
  const { change_id: id, ...rest } = statement;
  const result = await call(`${base}/admin/keys/changes`, 'POST', { id, ...rest, signature });
  if (result.status === 201) console.error(`proposed ${id}; a second operator approves with: ctp keys approve ${id} --operator <id> --operator-key <file> --url ${base}`);
  return report(result, output);
}

/** `ctp keys approve <id>`: reads the change, signs its statement with this operator's key, approves. */
export async function approveCommand(id: string, options: KeyCommandOptions, output: Output): Promise<number> {
  const base = baseUrl(options.url);
  const { operator, key } = signer(options);
  const change = await call(`${base}/admin/keys/changes/${encodeURIComponent(id)}`, 'GET');
  if (change.status !== 200) return report(change, output);
  const { action, kid, expires_at: expiresAt } = change.body as { action: KeyChangeAction; kid: string; expires_at: number };
  console.error(`approving ${id}: ${action} ${kid}, expires ${new Date(expiresAt * 1000).toISOString()}`);
  const signature = signStatement({ change_id: id, action, kid, operator, expires_at: expiresAt }, key);
  return report(await call(`${base}/admin/keys/changes/${encodeURIComponent(id)}/approvals`, 'POST', { operator, signature }), output);
}

export async function statusCommand(options: KeyCommandOptions, output: Output): Promise<number> {
  return report(await call(`${baseUrl(options.url)}/admin/keys`, 'GET'), output);
}

/** `ctp partners new-signing-key <id>`: the private key to a 0600 file, the partners-file entry to stdout. */
export function newSigningKeyCommand(partnerId: string, options: { alg: string; kid?: string; out?: string }, output: Output): number {
  if (!(SIGNING_KEY_ALGS as readonly string[]).includes(options.alg)) throw new CliError(`--alg must be one of ${SIGNING_KEY_ALGS.join(', ')}`);
  const { privateKeyPem, entry } = generateSigningKey(partnerId, options.alg as SigningKeyAlg, options.kid);
  const out = options.out ?? `${entry.kid}.pem`;
  try {
    writeFileSync(out, privateKeyPem, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    throw new CliError(`cannot write ${out}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  if (output.json) {
    console.log(JSON.stringify({ partner: partnerId, private_key_file: out, entry }));
    return 0;
  }
  console.log(`private key (the partner keeps it; it signs guarded requests): ${out}`);
  console.log(`add to the partner's "signing_keys" in the partners file: ${JSON.stringify(entry)}`);
  return 0;
}

/** `ctp operators new-key <id>`: the private key to a 0600 file, the public entry to stdout. */
export function newOperatorKeyCommand(id: string, options: KeyCommandOptions, output: Output): number {
  const { privateKeyPem, entry } = generateOperatorKey(id);
  const out = options.out ?? `${id}.operator.pem`;
  try {
    writeFileSync(out, privateKeyPem, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    throw new CliError(`cannot write ${out}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  if (output.json) {
    console.log(JSON.stringify({ private_key_file: out, entry }));
    return 0;
  }
  console.log(`private key (keep it to yourself): ${out}`);
  console.log(`add to the operators file (CTP_OPERATORS_FILE) "operators" list: ${JSON.stringify(entry)}`);
  return 0;
}
