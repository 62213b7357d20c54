import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs. Redaction is a second line of defence: code never passes tokens,
 * keys or secrets to the logger in the first place.
 */
export function createLogger(service: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: service,
      level: process.env.LOG_LEVEL ?? 'info',
      base: { service },
      redact: {
        paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'apiKey', 'secret', '*.secret'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
