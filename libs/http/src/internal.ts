// Test support of @ctp/http (the ./internal subpath): names only specs and fault suites import.
export { MAX_BODY_BYTES } from './body';
export { RedisRateLimiter } from './rate_limit';
export { type RedisClient, redisTarget } from './redis';
