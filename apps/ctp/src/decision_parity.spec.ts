import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { createLogger } from '@ctp/http';
import { KeyDirectory } from '@ctp/keys';
import { createLocalValidator, type LocalValidator } from '@ctp/sdk';
import {
  attackerJwks,
  DECISION_CORPUS,
  GUIDE_ENVELOPE,
  joseShouldAccept,
  newAttacker,
  OpenApiContract,
  postJson,
  signatureCases,
  waitFor,
  type CorpusWorld,
  type DecisionCase,
} from '@ctp/testing';
import { upConfigSchema } from './config';
import { startCtp, type RunningCtp } from './up';

/**
 * One case corpus (libs/testing/src/decision_corpus.ts), three verifiers: `ctp up`'s
 * POST /introspect, the SDK's local validator (jose inside), and jose's jwtVerify alone as an
 * independent oracle. The service and the SDK must give the same answer, field for field; jose
 * must reject every token the service refuses for a signature, header or registered-claim reason.
 */
const ISSUER = 'http://127.0.0.1:8000';
const contract = new OpenApiContract();

describe('decision corpus: POST /introspect, the SDK local validator and jose agree', () => {
  let ctp: RunningCtp;
  let validator: LocalValidator;
  let world: CorpusWorld;
  let jwks: ReturnType<typeof createRemoteJWKSet>;
  let attackerServer: Server;
  let attackerHits = 0;

  const issue = async () => {
    const r = await postJson(`${ctp.url}/issue`, GUIDE_ENVELOPE);
    expect(r.status).toBe(200);
    // Every token /issue returns verifies with jose against the served JWKS.
    await jwtVerify(r.body.token as string, jwks, { algorithms: ['ES256'], issuer: ISSUER, audience: GUIDE_ENVELOPE.processor });
    return r.body as { token: string; jti: string };
  };

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ctp-parity-'));
    ctp = await startCtp(upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: dataDir, CTP_ISSUER: ISSUER }), createLogger('test'));
    jwks = createRemoteJWKSet(new URL(`${ctp.url}/.well-known/jwks.json`));
    const signing = KeyDirectory.open(join(dataDir, 'keys')).signingKey();
    const attacker = newAttacker();
    const partial = { kid: signing.kid, attacker };
    attackerServer = createServer((_req, res) => {
      attackerHits++;
      res.end(JSON.stringify(attackerJwks(partial)));
    });
    await new Promise<void>((r) => attackerServer.listen(0, '127.0.0.1', r));
    const { token } = await issue();
    world = {
      issuer: ISSUER,
      kid: signing.kid,
      privateKey: signing.privateKey,
      publicKey: KeyDirectory.open(join(dataDir, 'keys')).cached(signing.kid)!,
      token,
      attackerJwksUrl: `http://127.0.0.1:${(attackerServer.address() as { port: number }).port}/jwks.json`,
      attacker,
    };
    validator = createLocalValidator({ baseUrl: ctp.url, issuer: ISSUER });
    await validator.ready();
  });

  afterAll(async () => {
    await validator?.close();
    await new Promise<void>((r) => attackerServer?.close(() => r()));
    await ctp?.close();
  });

  const cases = (): DecisionCase[] => DECISION_CORPUS;
  it.each(cases().map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    let w = world;
    if (c.revokeFirst) {
      const fresh = await issue();
      w = { ...world, token: fresh.token };
      expect((await postJson(`${ctp.url}/revoke`, { jti: fresh.jti, reason: 'user_revoked' })).status).toBe(200);
      // The SDK learns it over the push channel; the service at once.
      await waitFor(async () => (await validator.decide(w.token, GUIDE_ENVELOPE)).reason === 'revoked', 5000, 'the revocation on the push channel');
    }
    const token = c.token(w);
    const envelope = (c.envelope?.() ?? GUIDE_ENVELOPE) as typeof GUIDE_ENVELOPE;
    const service = await postJson(`${ctp.url}/introspect`, { token, context_envelope: envelope });
    contract.validate('POST', '/introspect', service.status, service.contentType, service.body);
    expect(service.status).toBe(200);
    expect(service.body.reason).toBe(c.reason);
    expect(await validator.decide(token, { ...envelope, features: [...envelope.features] })).toEqual(service.body);
    const jose = await jwtVerify(token, jwks, {
      algorithms: ['ES256'],
      issuer: ISSUER,
      audience: envelope.processor,
      clockTolerance: 60,
      maxTokenAge: 360,
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    }).then(
      () => 'accept',
      () => 'reject',
    );
    expect(jose).toBe(joseShouldAccept(c) ? 'accept' : 'reject');
  });

  it('malformed ES256 signatures: the same reason from the service, the SDK and jose', async () => {
    const another = (await issue()).token;
    for (const [name, token, reason] of signatureCases(world.token, world, another)) {
      const service = await postJson(`${ctp.url}/introspect`, { token, context_envelope: GUIDE_ENVELOPE });
      expect([name, service.body.reason]).toEqual([name, reason]);
      expect([name, await validator.decide(token, { ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] })]).toEqual([name, service.body]);
      const jose = await jwtVerify(token, jwks, { algorithms: ['ES256'], issuer: ISSUER, audience: GUIDE_ENVELOPE.processor }).then(() => 'accept', () => 'reject');
      expect([name, jose]).toEqual([name, reason === null ? 'accept' : 'reject']);
    }
  });

  it('no verifier ever fetched the attacker JWKS named by jku/x5u', () => {
    expect(attackerHits).toBe(0);
  });
});
