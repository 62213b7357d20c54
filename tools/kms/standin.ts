// Runs the local Cloud KMS API stand-in (libs/testing/src/kms_server.ts) for trying KMS signing
// by hand: it creates one EC_SIGN_P256_SHA256 key and prints the variables that point an issuer
// (or `ctp up`) at it. Keys live in memory only and vanish when it stops (Ctrl-C).
//
//   node --import tsx tools/kms/standin.ts [--port 9090]
import { KmsStandIn } from '@ctp/testing';

async function main(): Promise<void> {
  const portFlag = process.argv.indexOf('--port');
  const port = portFlag >= 0 ? Number(process.argv[portFlag + 1]) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port takes a port number');
  const kms = await KmsStandIn.start(port);
  const version = kms.createSigningKey();
  console.log(`Cloud KMS API stand-in on ${kms.endpoint} (plaintext gRPC, in-memory keys)`);
  console.log(`CTP_KMS_ENDPOINT=${kms.endpoint}`);
  console.log(`CTP_KMS_KEY=${version}`);
  const stop = () => void kms.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
