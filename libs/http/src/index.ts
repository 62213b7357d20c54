export { apiRouter, createServiceApp, hotPost, HSTS_MAX_AGE_SECONDS, methodNotAllowed } from './app';
export { sendJson, type Step } from './step';
export { authenticate, type AuthOptions, partnerAuth, partnerOf } from './auth';
export { jsonBody } from './body';
export { baseUrl, close, listen, loadTls, type Server, shutdownOnSignals } from './listen';
export { createLogger, type Logger } from './logger';
export { edgeControls } from './edge';
export { auditorAuth } from './auditor_auth';
export { connectRedis } from './redis';
