export { expectReadmeDocuments, GUIDE_ENVELOPE, postJson, writePartnersFile } from './fixtures';
export { OpenApiContract } from './openapi';
export { freePort, REPO_ROOT, type ServiceProcess, startService, tsEntry, waitFor } from './processes';
export { NATS_URL, ownLedgerConsumer, PG_URL, portOpen, REDIS_URL, stopNats, stopRedis } from './servers';
export { allNotFound, pathSpellings, spellingStatuses } from './spellings';
export { rawHttp } from './raw_http';
export { openSse, type SseClient } from './sse';
export { makeTestCertificate, type TestCertificate } from './tls';
export { type KmsFault, KmsStandIn, signP256Digest } from './kms_server';
export { createTestCa, startTestTsa, type TestCa, type TestTsa } from './tsa';
export { type GeneratedRequest, hostileString, hostileValue, type Json, requestArbitrary, SchemaArbitraries, setOwn } from './openapi_arbitraries';
export { PG_BIN, privateNats, privatePostgres, privateRedis, privateRedisCluster, privateRedisSentinels, type PrivateServer, type RedisSentinelSet } from './private_servers';
export { ledgerRoles, type LedgerRoles } from './ledger_roles';
export {
  attackerJwks,
  corpusClaims,
  type CorpusWorld,
  craftJws,
  DECISION_CORPUS,
  type DecisionCase,
  joseShouldAccept,
  newAttacker,
  signatureCases,
} from './decision_corpus';
export { cycloneDxValidator } from './cyclonedx';
export { FaultProxy, type FaultProxyOptions, type FaultProxyStats, type Faults, NO_FAULTS } from './fault_proxy';
