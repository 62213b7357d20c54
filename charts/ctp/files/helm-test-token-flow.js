// helm test: issue -> introspect (allow) -> revoke -> introspect (deny with reason revoked), through the
// release's Services. Run by templates/tests/test-token-flow.yaml; the repository tests run this same
// file against `ctp up`. Settings: ISSUER_URL, INTROSPECTOR_URL, BROADCASTER_URL, PROCESSOR, API_KEY
// (empty only in dev mode). Exits 0 when every step answered as expected.
const { ISSUER_URL, INTROSPECTOR_URL, BROADCASTER_URL, PROCESSOR, API_KEY } = process.env;
const headers = { 'content-type': 'application/json', ...(API_KEY ? { authorization: `Bearer ${API_KEY}` } : {}) };
const envelope = {
  ts: new Date().toISOString(),
  channel: 'voice',
  features: ['tone'],
  processor: PROCESSOR,
  purpose: 'helm_test',
  retention: 'session_only',
  jurisdiction: 'US-KY',
  ui_copy_id: 'ctp-helm-test',
};

async function post(base, path, body) {
  const url = `${base}${path}`;
  let res;
  try {
    res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new Error(`POST ${url}: ${error.cause?.message ?? error.message}`);
  }
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${url}: HTTP ${res.status} ${text}`);
  return JSON.parse(text);
}

async function main() {
  const issued = await post(ISSUER_URL, '/issue', envelope);
  console.log(`issued jti ${issued.jti}`);
  const allowed = await post(INTROSPECTOR_URL, '/introspect', { token: issued.token, context_envelope: envelope });
  if (allowed.decision !== 'allow') throw new Error(`introspect before revoke: ${JSON.stringify(allowed)}`);
  console.log('introspect: allow');
  await post(BROADCASTER_URL, '/revoke', { jti: issued.jti, reason: 'user_revoked' });
  console.log('revoked');
  // Revocations reach introspectors through the bus within milliseconds; allow a few seconds.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const after = await post(INTROSPECTOR_URL, '/introspect', { token: issued.token, context_envelope: envelope });
    if (after.decision === 'deny' && after.reason === 'revoked') break;
    if (Date.now() > deadline) throw new Error(`introspect after revoke: ${JSON.stringify(after)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log('introspect after revoke: deny (revoked)');
}

main().then(
  () => console.log('token flow OK'),
  (error) => {
    console.error(`token flow FAILED: ${error.message}`);
    process.exit(1);
  },
);
