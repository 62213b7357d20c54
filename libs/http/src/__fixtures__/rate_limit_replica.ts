// One replica of a service for rate_limit_replicas.spec.ts: its own process and Redis
// connection, a RedisRateLimiter, and `calls` decisions for one key with `concurrency` in
// flight once a line arrives on stdin (so the replicas start together). Prints
// {"allowed":n,"refused":n} on stdout.
import { Redis } from 'ioredis';
import { RedisRateLimiter } from '../rate_limit';

async function main() {
  const env = (name: string) => {
    const value = process.env[name];
    if (value === undefined) throw new Error(`${name} is not set`);
    return value;
  };
  const redis = new Redis(env('REPLICA_REDIS_URL'), { maxRetriesPerRequest: 1 });
  const limiter = new RedisRateLimiter(redis, { prefix: env('REPLICA_PREFIX'), leaseMs: Number(env('REPLICA_LEASE_MS')) });
  const limit = { requests: Number(env('REPLICA_REQUESTS')), periodSeconds: Number(env('REPLICA_PERIOD_S')) };
  const calls = Number(env('REPLICA_CALLS'));
  const concurrency = Number(env('REPLICA_CONCURRENCY'));
  await redis.ping();
  process.stdout.write('ready\n');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  let started = 0;
  let allowed = 0;
  let refused = 0;
  const worker = async () => {
    while (started < calls) {
      started++;
      if ((await limiter.take('introspect:acme', limit)).allowed) allowed++;
      else refused++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  process.stdout.write(`${JSON.stringify({ allowed, refused })}\n`);
  redis.disconnect();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
