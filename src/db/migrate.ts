import { type Migration, type MigrationResultSet, Migrator } from 'kysely';
import type { DatabaseHandle } from './database.ts';
import { initialMigration } from './migrations/0001-initial.ts';
import { auditMigration } from './migrations/0002-audit.ts';
import { sessionsMigration } from './migrations/0003-sessions.ts';
import { mfaMigration } from './migrations/0004-mfa.ts';
import { securityMigration } from './migrations/0006-security.ts';
import { healthProbeMigration } from './migrations/0007-health-probe.ts';
import { eventsMigration } from './migrations/0008-events.ts';
import { statementsStandingOrdersMigration } from './migrations/0009-statements-standing-orders.ts';
import { networkWebhookIdsMigration } from './migrations/0010-network-webhook-ids.ts';
import { holdsMigration } from './migrations/0013-holds.ts';
import { controlsMigration } from './migrations/0015-controls.ts';
import { paymentReturnCreditsMigration } from './migrations/0018-payment-return-credits.ts';
import { paymentLimitsMigration } from './migrations/0019-payment-limits.ts';
import { standingOrderPaymentsMigration } from './migrations/0020-standing-order-payments.ts';
import { sessionDevicesMigration } from './migrations/0022-session-devices.ts';
import { ledgerReferenceChecksMigration } from './migrations/0024-ledger-reference-checks.ts';
import { batchReadFunctionMigration } from './migrations/0025-batch-read-function.ts';

/**
 * Applies every pending migration. Migrations are code (not files discovered at run time),
 * so the set that runs is exactly the set that was type-checked and tested. On PostgreSQL
 * Kysely takes an advisory lock, so several servers starting at once migrate only once.
 */
export async function migrateToLatest(handle: DatabaseHandle): Promise<MigrationResultSet> {
  const migrations: Record<string, Migration> = {
    '0001-initial': initialMigration(handle.engine),
    '0002-audit': auditMigration(handle.engine),
    '0003-sessions': sessionsMigration(handle.engine),
    '0004-mfa': mfaMigration(handle.engine),
    '0006-security': securityMigration(handle.engine),
    '0007-health-probe': healthProbeMigration(handle.engine),
    '0008-events': eventsMigration(handle.engine),
    '0009-statements-standing-orders': statementsStandingOrdersMigration(handle.engine),
    '0010-network-webhook-ids': networkWebhookIdsMigration(handle.engine),
    '0013-holds': holdsMigration(handle.engine),
    '0015-controls': controlsMigration(handle.engine),
    '0018-payment-return-credits': paymentReturnCreditsMigration(handle.engine),
    '0019-payment-limits': paymentLimitsMigration(),
    '0020-standing-order-payments': standingOrderPaymentsMigration(handle.engine),
    '0022-session-devices': sessionDevicesMigration(handle.engine),
    '0024-ledger-reference-checks': ledgerReferenceChecksMigration(handle.engine),
    '0025-batch-read-function': batchReadFunctionMigration(handle.engine),
  };
  const migrator = new Migrator({
    db: handle.db,
    provider: { getMigrations: async () => migrations },
    // Features landed on parallel branches with their own migration numbers, and each
    // migration only adds its own tables, so a database that already has a later one must
    // still accept an earlier one it lacks.
    allowUnorderedMigrations: true,
  });
  const result = await migrator.migrateToLatest();
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${String(result.error)}`, { cause: result.error });
  }
  return result;
}
