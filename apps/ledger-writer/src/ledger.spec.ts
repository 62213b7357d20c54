import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NoteVerifier, openNote, parseCheckpoint, verifyConsistency, verifyInclusion } from '@ctp/ledger-core';
import { generateApiKey } from '@ctp/partners';
import { allNotFound, GUIDE_ENVELOPE, ledgerRoles, NATS_URL, PG_URL, postJson, spellingStatuses, REDIS_URL, startService, tsEntry, waitFor, type LedgerRoles, type ServiceProcess } from '@ctp/testing';

/**
 * issue -> bus -> ledger-writer -> PostgreSQL, with proofs checked by the pure verifiers.
 * The writer runs as in production: outside dev mode, appending as a role with INSERT and
 * SELECT only (migrations as the owner), its ledger read by an auditor's credential.
 */
describe('ledger-writer with real NATS and PostgreSQL', () => {
  const run = randomBytes(4).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'ctp-ledger-'));
  const auditor = generateApiKey('audit-firm');
  const acme = generateApiKey('acme');
  let roles: LedgerRoles;
  let issuer: ServiceProcess;
  let broadcaster: ServiceProcess;
  let writer: ServiceProcess;
  const backends = { CTP_NATS_URL: NATS_URL, CTP_REDIS_URL: REDIS_URL, CTP_REDIS_PREFIX: `ledger:${run}:`, CTP_DEV_MODE: 'true' };

  beforeAll(async () => {
    roles = await ledgerRoles(PG_URL, `ledger_e2e_${run}`);
    const partners = join(dir, 'partners.json');
    writeFileSync(partners, JSON.stringify({ partners: [{ id: 'acme', name: 'Acme', api_key_hashes: [acme.hash], processors: ['*'], policy_uri: 'https://acme.example/p' }], auditors: [{ id: 'audit-firm', name: 'Audit Firm', api_key_hashes: [auditor.hash] }] }));
    writer = await startService(tsEntry('apps/ledger-writer/src/main.ts'), {
      CTP_NATS_URL: NATS_URL,
      CTP_DATABASE_URL: roles.writerUrl,
      CTP_DATABASE_OWNER_URL: roles.ownerUrl,
      CTP_PARTNERS_FILE: partners,
      CTP_DATABASE_SCHEMA: `ledger_e2e_${run}`,
      CTP_LEDGER_DURABLE: `e2e-${run}`,
      CTP_LEDGER_REPLAY_FROM: new Date().toISOString(),
      CTP_LEDGER_KEY_DIR: join(dir, 'ledger-keys'),
      CTP_LEDGER_HYBRID: 'true',
      CTP_LEDGER_CHECKPOINT_INTERVAL_MS: '200',
    }, { readyTimeoutMs: 60_000 });
    issuer = await startService(tsEntry('apps/issuer/src/main.ts'), { ...backends, CTP_KEY_DIR: join(dir, 'keys'), CTP_SUBJECT_SECRET_FILE: join(dir, 'secret') });
    broadcaster = await startService(tsEntry('apps/revocation-broadcaster/src/main.ts'), backends);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([issuer?.stop(), broadcaster?.stop(), writer?.stop()]);
    await roles?.drop();
  });

  const get = async (path: string) => {
    const res = await fetch(`${writer.url}${path}`, { headers: { authorization: `Bearer ${auditor.apiKey}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it("takes a partner guard's receipts (POST /receipts) and serves each with its inclusion proof", async () => {
    const id = randomUUID();
    const receipt = { id, decision: 'allow', reason: 'ok', method: 'GET', path: '/v1/profile', content_digest: null, jti: null, algs: ['Ed25519'], breaker_state: 'closed', policy_id: 'floor.reads-degrade', policy_hash: 'e'.repeat(64), at: Date.now() };
    const auth = { authorization: `Bearer ${acme.apiKey}` };
    const posted = await postJson(`${writer.url}/receipts`, { receipts: [receipt] }, auth);
    expect([posted.status, posted.body]).toEqual([200, { receipts: [{ id, event_id: `guard.receipt:acme:${id}` }] }]);
    let evidence: Record<string, unknown> = {};
    await waitFor(async () => {
      const res = await fetch(`${writer.url}/receipts/${id}`, { headers: auth });
      evidence = (await res.json()) as Record<string, unknown>;
      return res.status === 200 && evidence.inclusion !== null;
    }, 30_000, 'the receipt under a signed checkpoint');
    expect(evidence).toMatchObject({ receipt, partner_id: 'acme', inclusion: { tree_size: expect.any(Number) } });
  });

  it('records issue and revoke, and proves them under a signed, consistent checkpoint', async () => {
    const issued = (await postJson(`${issuer.url}/issue`, GUIDE_ENVELOPE)).body as { jti: string };
    expect((await postJson(`${broadcaster.url}/revoke`, { jti: issued.jti, reason: 'user_revoked' })).status).toBe(200);
    let entries: { entry: { seq: number; type: string; data: Record<string, unknown> }; leaf_hash: string }[] = [];
    await waitFor(async () => {
      entries = (await get(`/ledger/entries?jti=${issued.jti}`)).body.entries as typeof entries;
      return entries.length === 2;
    }, 30_000, 'both ledger entries');
    // Issue and revoke events come from two streams; the ledger records them in arrival order.
    expect(entries.map((e) => e.entry.type).sort()).toEqual(['consent.issued', 'consent.revoked']);
    entries.sort((a, b) => a.entry.type.localeCompare(b.entry.type));
    expect(entries[0]!.entry.data).toMatchObject({ jti: issued.jti, purpose: 'customer_retention', jurisdiction: 'US-KY', consent_ts: GUIDE_ENVELOPE.ts });
    expect(JSON.stringify(entries[0]!.entry.data)).not.toMatch(/eyJ/);

    const last = Math.max(...entries.map((e) => e.entry.seq));
    let checkpoint: { size: number; root: string; note: string } = { size: 0, root: '', note: '' };
    await waitFor(async () => {
      checkpoint = (await get('/ledger/checkpoint')).body as typeof checkpoint;
      return checkpoint.size >= last;
    }, 10_000, 'a checkpoint covering the entries');
    const verifiers = ((await get('/ledger/verifiers')).body.keys as { vkey: string }[]).map((k) => NoteVerifier.parse(k.vkey));
    expect(verifiers.map((v) => v.alg)).toEqual(['ed25519', 'mldsa65']);
    const opened = parseCheckpoint(openNote(checkpoint.note, verifiers).text);
    expect(opened.size).toBe(checkpoint.size);

    for (const e of entries) {
      const proof = (await get(`/ledger/proofs/inclusion?seq=${e.entry.seq}&size=${checkpoint.size}`)).body as { proof: string[]; leaf_hash: string };
      const hashes = proof.proof.map((p) => Buffer.from(p, 'base64'));
      expect(verifyInclusion(e.entry.seq - 1, checkpoint.size, Buffer.from(e.leaf_hash, 'base64'), hashes, opened.root)).toBe(true);
    }
    if (checkpoint.size > 1) {
      const earlier = 1;
      const consistency = (await get(`/ledger/proofs/consistency?first=${earlier}&second=${checkpoint.size}`)).body as { proof: string[] };
      const firstRoot = Buffer.from((await get(`/ledger/proofs/inclusion?seq=1&size=1`)).body.root as string, 'base64');
      expect(verifyConsistency(earlier, checkpoint.size, firstRoot, opened.root, consistency.proof.map((p) => Buffer.from(p, 'base64')))).toBe(true);
    }
    expect((await get('/ledger/proofs/inclusion?seq=0')).status).toBe(400);
    expect((await get(`/ledger/entries/${checkpoint.size + 1000}`)).status).toBe(404);
  });

  it('answers 404 to every other spelling of its paths', async () => {
    for (const path of ['/ledger/checkpoint', '/ledger/verifiers', '/ledger/entries', '/ledger/proofs/inclusion', '/ledger/anchors', '/ledger/export', '/metrics']) {
      expect(await spellingStatuses(writer.url, 'GET', path)).toEqual(allNotFound(path));
    }
    expect(await spellingStatuses(writer.url, 'GET', '/ledger/entries/1', {}, undefined, '/ledger/entries/{seq}')).toEqual(allNotFound('/ledger/entries/1', '/ledger/entries/{seq}'));
    const receiptPath = '/receipts/0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e';
    expect(await spellingStatuses(writer.url, 'GET', receiptPath, {}, undefined, '/receipts/{id}')).toEqual(allNotFound(receiptPath, '/receipts/{id}'));
    expect(await spellingStatuses(writer.url, 'POST', '/receipts', {}, '{}')).toEqual(allNotFound('/receipts'));
  });

  it('exports the guide metric names', async () => {
    const text = await (await fetch(`${writer.url}/metrics`)).text();
    for (const name of ['ctp_ledger_append_latency_seconds_bucket', 'ctp_ledger_entries_total', 'ctp_ledger_integrity_ok 1', 'ctp_ledger_chain_breaks_total']) expect(text).toContain(name);
    // Both durable consumers have handled everything: nothing pending, no age.
    for (const stream of ['CTP_LEDGER', 'CTP_REVOCATIONS']) {
      expect(text).toMatch(new RegExp(`ctp_bus_consumer_pending_messages\\{consumer="ledger-writer",stream="${stream}"\\} 0`));
      expect(text).toMatch(new RegExp(`ctp_bus_consumer_oldest_pending_age_seconds\\{consumer="ledger-writer",stream="${stream}"\\} 0`));
    }
  });
});
