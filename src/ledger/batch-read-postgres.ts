import { sql } from 'kysely';
import { type AccountRow, accountRecordOf } from '../accounts/accounts-repository.ts';
import type { Trx } from '../db/database.ts';
import { type HoldRow, holdRecordOf } from '../holds/holds-repository.ts';
import { idempotencyMapKey, type StoredKey, type UserGate } from './batch-repository.ts';
import type { LockedAccount, LockedHold } from './commands/command.ts';

/** What a batch reads before it applies its commands (see `readBatch` in ./engine.ts). */
export interface BatchReads {
  gates: Map<string, UserGate>;
  keys: Map<string, StoredKey>;
  accounts: Map<string, LockedAccount>;
  holds: Map<string, LockedHold>;
  /**
   * The acting users' own daily limits (`user_limits`), for src/controls/limits.ts; absent
   * when the reads left them to `readDailyOutgoing` (SQLite).
   */
  ownLimits?: Array<{ user_id: string; currency: string; daily_outgoing_minor: bigint }>;
}

/** A row with its 64-bit integer columns as text, as JSON carries them (migration 0025). */
type AsText<Row, Columns extends keyof Row> = Omit<Row, Columns> & { [C in Columns]: string };

/** The document `corebank_read_batch` answers; 64-bit integers as text (migration 0025). */
interface ReadDocument {
  users: Array<{
    id: string;
    pin_hash: string | null;
    failed_pin_attempts: string;
    locked: boolean;
  }>;
  limits: Array<{ user_id: string; currency: string; daily_outgoing_minor: string }>;
  keys: Array<{ user_id: string; key: string; request_hash: string; outcome: string }>;
  accounts: Array<AsText<AccountRow, 'id' | 'balance_minor'>>;
  pending: Array<{ account_id: string; total: string }>;
  holds: Array<AsText<HoldRow, 'account_id' | 'amount_minor' | 'captured_minor'>>;
}

/**
 * Every read of a batch on PostgreSQL in one round trip (issue #17, item 4): the function
 * of migration 0025 locks the users, reads their limits and keys, locks the accounts and
 * reads their holds, in that order, each statement on a fresh snapshot (why it is a
 * function and not one statement: docs/decisions/0027-batch-read-function.md). The result
 * is the same as the separate statements SQLite runs (`readBatch` in ./engine.ts).
 */
export async function readBatchPostgres(
  trx: Trx,
  input: {
    userIds: readonly string[];
    keyPairs: ReadonlyArray<{ userId: string; key: string }>;
    accountNumbers: readonly string[];
    holdIds: readonly string[];
    now: string;
  },
): Promise<BatchReads> {
  const { rows } = await sql<{ reads: ReadDocument }>`
    select corebank_read_batch(
      ${[...input.userIds]}::text[],
      ${input.keyPairs.map((pair) => pair.userId)}::text[],
      ${input.keyPairs.map((pair) => pair.key)}::text[],
      ${[...new Set(input.accountNumbers)]}::text[],
      ${[...input.holdIds]}::text[],
      ${input.now}::timestamptz
    ) as reads`.execute(trx);
  const reads = rows[0]?.reads;
  if (reads === undefined) throw new Error('corebank_read_batch answered nothing');

  const gates = new Map<string, UserGate>();
  for (const user of reads.users) {
    gates.set(user.id, {
      id: user.id,
      pinHash: user.pin_hash,
      failedPinAttempts: Number(user.failed_pin_attempts),
      locked: user.locked,
    });
  }
  const keys = new Map<string, StoredKey>();
  for (const key of reads.keys) {
    keys.set(idempotencyMapKey(key.user_id, key.key), {
      requestHash: key.request_hash,
      outcome: key.outcome,
    });
  }
  const pending = new Map(reads.pending.map((row) => [row.account_id, BigInt(row.total)]));
  const accounts = new Map<string, LockedAccount>();
  for (const row of reads.accounts) {
    const record = accountRecordOf({
      ...row,
      id: BigInt(row.id),
      balance_minor: BigInt(row.balance_minor),
    });
    accounts.set(record.accountNumber, {
      ...record,
      pendingHoldsMinor: pending.get(row.id) ?? 0n,
    });
  }
  const holds = new Map<string, LockedHold>();
  for (const row of reads.holds) {
    holds.set(
      row.id,
      holdRecordOf({
        ...row,
        account_id: BigInt(row.account_id),
        amount_minor: BigInt(row.amount_minor),
        captured_minor: BigInt(row.captured_minor),
      }),
    );
  }
  const ownLimits = reads.limits.map((row) => ({
    user_id: row.user_id,
    currency: row.currency,
    daily_outgoing_minor: BigInt(row.daily_outgoing_minor),
  }));
  return { gates, keys, accounts, holds, ownLimits };
}
