import { sql } from 'kysely';
import type { Db, Engine, Trx } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { formatMinor, isSupportedCurrency, parseAmount } from '../money/money.ts';
import { localMidnight, wallClock } from '../statements/period.ts';

/**
 * Daily outgoing limits (issue #13). A customer's money leaving their own accounts by
 * their own command — withdrawals, transfers, and every other kind declared
 * `outgoing: true` (payments, standing-order runs) — is summed per currency over the
 * bank's business day. The engine reads that sum under the user's row lock, with the
 * balances (`readBatch`), and adds each accepted command to it in memory, so parallel
 * requests cannot exceed the limit by one cent.
 */

export interface DailyLimitsConfig {
  /** Default limit per currency, in minor units; a currency absent here has none. */
  defaults: ReadonlyMap<string, bigint>;
  timeZone: string;
}

export interface DailyOutgoing {
  /** null: no limit for this currency. */
  limitMinor: bigint | null;
  /** Spent today, including commands accepted earlier in the running batch. */
  usedMinor: bigint;
}

export function limitsConfigOf(config: {
  dailyOutgoingLimit: Record<string, string>;
  businessTimeZone: string;
}): DailyLimitsConfig {
  const defaults = new Map<string, bigint>();
  for (const [currency, amount] of Object.entries(config.dailyOutgoingLimit)) {
    defaults.set(currency, parseLimit(amount, currency, 'DAILY_OUTGOING_LIMIT'));
  }
  return { defaults, timeZone: config.businessTimeZone };
}

/** `DUAL_CONTROL_THRESHOLD` in minor units per currency. */
export function thresholdsOf(config: Record<string, string>): Map<string, bigint> {
  return new Map(
    Object.entries(config).map(([currency, amount]) => [
      currency,
      parseLimit(amount, currency, 'DUAL_CONTROL_THRESHOLD'),
    ]),
  );
}

/** A limit in major units (`"5000.00"`, or zero to stop all outgoing money) → minor units. */
export function parseLimit(value: unknown, currency: string, field: string): bigint {
  if (!isSupportedCurrency(currency)) {
    throw new CorebankError('VALIDATION_FAILED', `${field}: ${currency} is not a currency`, field);
  }
  if (typeof value === 'string' && /^0(\.0+)?$/.test(value)) return 0n;
  return parseAmount(value, currency, { maxMinor: 10n ** 17n, field });
}

/** The business day containing an instant: its date and its [start, end) instants. */
export function businessDayOf(
  instantMs: number,
  timeZone: string,
): { date: string; startIso: string; endIso: string } {
  const w = wallClock(instantMs, timeZone);
  const start = localMidnight(w.year, w.month, w.day, timeZone);
  const end = localMidnight(w.year, w.month, w.day + 1, timeZone);
  const date = `${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
  return { date, startIso: new Date(start).toISOString(), endIso: new Date(end).toISOString() };
}

/**
 * Each user's limits and what they sent out today, per currency. Counted:
 * - debits on the user's own accounts, of entries of an outgoing kind that the user made
 *   themselves (withdrawals, transfers, standing-order runs; staff cash operations on a
 *   customer's account, and reversals, are made by staff);
 * - payments to other banks the user made today, from the moment their hold is placed
 *   (`payments.created_at`), whatever their state, except `rejected` and `failed` ones: no
 *   money left, so their amount is released (decision 0017). A payment's settlement, posted
 *   later as a hold capture (a `transfer` entry by the payer), is left out of the postings
 *   sum: the payment row already counts it, on the day it was made.
 */
export async function readDailyOutgoing(
  trx: Trx | Db,
  userIds: readonly string[],
  outgoingKinds: readonly string[],
  day: { startIso: string; endIso: string },
  config: DailyLimitsConfig,
  options: {
    onlyLimited?: boolean;
    /** The users' `user_limits` rows when the caller has read them already (under lock). */
    ownLimits?:
      | ReadonlyArray<{ user_id: string; currency: string; daily_outgoing_minor: bigint }>
      | undefined;
  } = {},
): Promise<Map<string, Map<string, DailyOutgoing>>> {
  const result = new Map<string, Map<string, DailyOutgoing>>();
  if (userIds.length === 0) return result;
  for (const userId of userIds) {
    const perCurrency = new Map<string, DailyOutgoing>();
    for (const [currency, limitMinor] of config.defaults) {
      perCurrency.set(currency, { limitMinor, usedMinor: 0n });
    }
    result.set(userId, perCurrency);
  }
  const own =
    options.ownLimits ??
    (await trx
      .selectFrom('user_limits')
      .select(['user_id', 'currency', 'daily_outgoing_minor'])
      .where('user_id', 'in', [...userIds])
      .execute());
  for (const row of own) {
    const entry = result.get(row.user_id)?.get(row.currency);
    const limitMinor = BigInt(row.daily_outgoing_minor);
    if (entry === undefined) {
      result.get(row.user_id)?.set(row.currency, { limitMinor, usedMinor: 0n });
    } else {
      entry.limitMinor = limitMinor;
    }
  }
  // The engine needs today's use only of users with a limit (a batch of users without any
  // costs no sums); the limits document shows it to everyone.
  const counted =
    options.onlyLimited === true
      ? userIds.filter((id) =>
          [...(result.get(id)?.values() ?? [])].some((entry) => entry.limitMinor !== null),
        )
      : userIds;
  if (outgoingKinds.length === 0 || counted.length === 0) return result;
  const used = await trx
    .selectFrom('postings as p')
    .innerJoin('accounts as a', 'a.id', 'p.account_id')
    .innerJoin('journal_entries as e', 'e.id', 'p.entry_id')
    .select(['a.user_id', 'p.currency', sql<string>`sum(p.amount_minor)`.as('used')])
    .where('a.user_id', 'in', [...counted])
    .whereRef('e.actor_user_id', '=', 'a.user_id')
    .where('p.direction', '=', 'debit')
    .where('e.kind', 'in', outgoingKinds as never)
    .where('p.created_at', '>=', day.startIso)
    .where('p.created_at', '<', day.endIso)
    // A payment's settlement: counted below, from the payment itself.
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('payments as py')
            .select('py.id')
            .where('py.direction', '=', 'outbound')
            .where('py.transaction_id', '=', sql<string>`cast(${sql.ref('p.id')} as text)`),
        ),
      ),
    )
    .groupBy(['a.user_id', 'p.currency'])
    .execute();
  const paid = await trx
    .selectFrom('payments as py')
    .innerJoin('accounts as a', 'a.id', 'py.account_id')
    .select(['a.user_id', 'py.currency', sql<string>`sum(py.amount_minor)`.as('used')])
    .where('py.user_id', 'in', [...counted])
    .whereRef('py.user_id', '=', 'a.user_id')
    .where('py.direction', '=', 'outbound')
    .where('py.status', 'not in', ['rejected', 'failed'])
    .where('py.created_at', '>=', day.startIso)
    .where('py.created_at', '<', day.endIso)
    .groupBy(['a.user_id', 'py.currency'])
    .execute();
  for (const row of [...used, ...paid]) {
    if (row.user_id === null) continue;
    const perCurrency = result.get(row.user_id);
    const usedMinor = BigInt(row.used);
    const entry = perCurrency?.get(row.currency);
    if (entry === undefined) perCurrency?.set(row.currency, { limitMinor: null, usedMinor });
    else entry.usedMinor += usedMinor;
  }
  return result;
}

/** The contract's limits document. */
export interface LimitsView {
  userId: string;
  businessDay: string;
  timeZone: string;
  dailyOutgoing: Record<string, string>;
  usedToday: Record<string, string>;
  remainingToday: Record<string, string>;
}

export function limitsView(
  userId: string,
  day: { date: string },
  timeZone: string,
  limits: ReadonlyMap<string, DailyOutgoing>,
): LimitsView {
  const view: LimitsView = {
    userId,
    businessDay: day.date,
    timeZone,
    dailyOutgoing: {},
    usedToday: {},
    remainingToday: {},
  };
  for (const [currency, { limitMinor, usedMinor }] of [...limits].sort()) {
    view.usedToday[currency] = formatMinor(usedMinor, currency);
    if (limitMinor === null) continue;
    view.dailyOutgoing[currency] = formatMinor(limitMinor, currency);
    const left = limitMinor - usedMinor;
    view.remainingToday[currency] = formatMinor(left > 0n ? left : 0n, currency);
  }
  return view;
}

export type { Engine };
