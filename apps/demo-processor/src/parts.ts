import { join } from 'node:path';
import { CedarPolicyShield, HysteresisBreaker, ReceiptForwarder, SqliteReceiptStore, type BreakerOptions, type BreakerTransition, type GuardOptions } from '@ctp/guard';
import type { Logger } from '@ctp/http';
import { CtpClient } from '@ctp/sdk';

export interface ProcessorPartsOptions {
  /** CTP's base URL (introspection and POST /receipts). */
  ctpUrl: string;
  /** The processor's CTP partner key (none in dev mode). */
  apiKey?: string;
  /** The directory holding shield.cedar and shield.cedarschema (the repository's policy/). */
  policyDir: string;
  /** The SQLite receipt store (WAL); `:memory:` for a throwaway one. */
  receiptsPath: string;
  /** Breaker thresholds over DEFAULT_BREAKER_OPTIONS (the pilot's plan shortens them). */
  breaker?: Partial<Omit<BreakerOptions, 'name' | 'onTransition'>>;
  /** How often pending receipts go to CTP, ms (default 1000). */
  forwardIntervalMs?: number;
  onTransition?: (t: BreakerTransition) => void;
  logger: Logger;
}

/** The assurance parts the demo processor runs its guard with, wired to one CTP. */
export interface ProcessorParts {
  client: CtpClient;
  shield: CedarPolicyShield;
  breaker: HysteresisBreaker;
  receipts: SqliteReceiptStore;
  forwarder: ReceiptForwarder;
  /** The guard options these parts fill: `createProcessorApp({ keys, nonces, validator, ...parts.guard, logger })`. */
  guard: Required<Pick<GuardOptions, 'client' | 'shield' | 'breaker' | 'receipts'>>;
  /** Forwards what is pending, then stops the forwarder and closes the store. */
  close(): Promise<void>;
}

/**
 * The real parts behind the demo processor's guard: the Cedar policy shields of `policyDir` (reloaded
 * when the file changes), a hysteresis breaker around CTP, and receipts committed to SQLite before each
 * response, forwarded to CTP's ledger (POST /receipts) in the background. Start the forwarder with
 * `parts.forwarder.start()`.
 */
export function processorParts(options: ProcessorPartsOptions): ProcessorParts {
  const { logger } = options;
  const client = new CtpClient({ baseUrl: options.ctpUrl, apiKey: options.apiKey });
  const shield = new CedarPolicyShield({
    policyPath: join(options.policyDir, 'shield.cedar'),
    schemaPath: join(options.policyDir, 'shield.cedarschema'),
    onReload: (set) => logger.info({ policy_hash: set.hash, policies: set.ids }, 'policy shields reloaded'),
    onError: (err) => logger.error({ err }, 'policy reload refused; the previous policies stay in force'),
  });
  const breaker = new HysteresisBreaker({
    ...options.breaker,
    name: 'ctp',
    onTransition: (t) => {
      logger.warn({ from: t.from, to: t.to, reason: t.reason }, 'breaker around CTP');
      options.onTransition?.(t);
    },
  });
  const receipts = new SqliteReceiptStore({ path: options.receiptsPath });
  const forwarder = new ReceiptForwarder({
    store: receipts,
    send: (batch) => client.forwardReceipts(batch),
    intervalMs: options.forwardIntervalMs,
    onError: (err) => logger.warn({ err }, 'receipts not forwarded yet (kept in SQLite)'),
  });
  return {
    client,
    shield,
    breaker,
    receipts,
    forwarder,
    guard: { client, shield, breaker, receipts },
    async close() {
      await forwarder.stop();
      await forwarder.flush().catch((err: unknown) => logger.warn({ err }, 'receipts left pending in SQLite'));
      receipts.close();
      shield.close();
    },
  };
}
