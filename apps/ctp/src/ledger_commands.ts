import { join } from 'node:path';
import { z } from 'zod';
import { ledgerEnv, readConfig, retentionPolicyOf } from '@ctp/config';
import { NoteVerifier } from '@ctp/ledger-core';
import { LedgerStore, loadCheckpointVerifiers, runRetention, startEmbeddedPostgres } from '@ctp/ledger';
import type { Output } from './output';

/** `ctp ledger retention`: the ledger's settings, as `ctp up` or apps/ledger-writer use them. */
export const retentionConfigSchema = z.object({
  ...ledgerEnv,
  /** The ledger's PostgreSQL, as the table owner (dropping hot partitions is DDL); unset: the embedded database of `ctp up` (stop it first). */
  CTP_DATABASE_URL: z.string().optional(),
  CTP_DATA_DIR: z.string().default('var/ctp'),
  /** Checkpoint keys of the writer, to check the checkpoints segments are proven against (default: those of `ctp up`). */
  CTP_LEDGER_KEY_DIR: z.string().optional(),
});

/**
 * `ctp ledger retention [--key K]... [--key-dir D]`: runs the retention job once
 * (docs/ledger-tiers.md) and prints what moved. Safe to repeat and to re-run after
 * an interruption.
 */
export async function retentionCommand(options: { key?: string[]; 'key-dir'?: string }, env = process.env, output: Output = { json: false }): Promise<number> {
  const config = readConfig(retentionConfigSchema, env);
  const verifiers =
    options.key && options.key.length > 0
      ? options.key.map((k) => NoteVerifier.parse(k))
      : loadCheckpointVerifiers(options['key-dir'] ?? config.CTP_LEDGER_KEY_DIR ?? join(config.CTP_DATA_DIR, 'ledger-keys'), config.CTP_LEDGER_ORIGIN, config.CTP_LEDGER_HYBRID);
  const embedded = config.CTP_DATABASE_URL ? undefined : await startEmbeddedPostgres(join(config.CTP_DATA_DIR, 'ledger-db'));
  try {
    const store = await LedgerStore.open(config.CTP_DATABASE_URL ?? embedded!.url, { schema: config.CTP_DATABASE_SCHEMA, max: embedded ? 1 : 2 });
    try {
      const report = await runRetention({
        store,
        origin: config.CTP_LEDGER_ORIGIN,
        verifiers,
        ...retentionPolicyOf(config),
        log: (message, fields) => console.error(`${message} ${JSON.stringify(fields)}`),
      });
      if (output.json) {
        console.log(JSON.stringify(report));
        return 0;
      }
      const list = (names: string[]) => (names.length > 0 ? names.join(', ') : 'none');
      console.log(`ledger retention done
  sealed to warm:  ${list(report.sealed)}
  moved to cold:   ${list(report.movedToCold)}
  retention ended: ${list(report.expired)}
  entries:         hot ${report.tiers.hot}, warm ${report.tiers.warm}, cold ${report.tiers.cold}, expired ${report.tiers.expired}`);
      for (const s of report.skipped) console.log(`  kept hot:        ${s.partition} (${s.reason})`);
      return 0;
    } finally {
      await store.close();
    }
  } finally {
    await embedded?.close();
  }
}
