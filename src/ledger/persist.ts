import { appendAudit } from '../audit/audit.ts';
import type { Engine, Trx } from '../db/database.ts';
import { transactionPosted } from '../events/event-data.ts';
import { appendEvents, type NewEvent, unnumberedEvents } from '../events/outbox.ts';
import {
  allocateIds,
  type EntryRow,
  insertEntries,
  insertIdempotencyKeys,
  insertPostings,
  type NewIdempotencyKey,
  type PostingRow,
  savePinStates,
  setBalances,
  writeBatchPostgres,
} from './batch-repository.ts';
import type { BatchState, PlannedEntry } from './commands/command.ts';

/**
 * A broken invariant of the write path: a bug or a database that changed under our locks,
 * never a customer's mistake. It is thrown, so the batch's transaction rolls back whole.
 */
export class LedgerInvariantError extends Error {
  constructor(message: string) {
    super(`ledger invariant broken: ${message}`);
    this.name = 'LedgerInvariantError';
  }
}

function expectRows(what: string, expected: number, actual: bigint): void {
  if (actual !== BigInt(expected)) {
    throw new LedgerInvariantError(
      `${what}: expected ${expected} row(s), the database touched ${actual}`,
    );
  }
}

/**
 * Checks one entry's posting rows exactly as they will be written: at least two, all in
 * the entry's currency, and summing to zero (credits positive, debits negative).
 */
export function assertEntryBalances(entry: EntryRow, postings: readonly PostingRow[]): void {
  if (postings.length < 2) {
    throw new LedgerInvariantError(
      `entry ${entry.id} (${entry.kind}) has ${postings.length} posting(s)`,
    );
  }
  let net = 0n;
  for (const posting of postings) {
    if (posting.entryId !== entry.id || posting.currency !== entry.currency) {
      throw new LedgerInvariantError(`posting ${posting.id} does not belong to entry ${entry.id}`);
    }
    if (posting.amountMinor <= 0n) {
      throw new LedgerInvariantError(`posting ${posting.id} has a non-positive amount`);
    }
    net += posting.direction === 'credit' ? posting.amountMinor : -posting.amountMinor;
  }
  if (net !== 0n) {
    throw new LedgerInvariantError(
      `entry ${entry.id} (${entry.kind}) does not balance: its postings sum to ${net}`,
    );
  }
}

/** Assigns ids to the planned entries and turns them into the rows that will be written. */
async function rowsOf(
  trx: Trx,
  engine: Engine,
  now: string,
  entries: readonly PlannedEntry[],
): Promise<{
  entryRows: EntryRow[];
  postingRows: PostingRow[];
  balances: Map<bigint, bigint>;
  posted: NewEvent[];
}> {
  const postingCount = entries.reduce((n, entry) => n + entry.postings.length, 0);
  const { entryIds, postingIds } = await allocateIds(trx, engine, entries.length, postingCount);
  const entryRows: EntryRow[] = [];
  const postingRows: PostingRow[] = [];
  const balances = new Map<bigint, bigint>();
  const posted: NewEvent[] = [];
  let nextPosting = 0;
  entries.forEach((planned, index) => {
    const entryId = entryIds[index];
    if (entryId === undefined) throw new LedgerInvariantError('fewer entry ids than entries');
    const entry: EntryRow = {
      id: entryId,
      kind: planned.kind,
      currency: planned.currency,
      amountMinor: planned.amountMinor,
      description: planned.description,
      actorUserId: planned.actorUserId,
      createdAt: now,
    };
    const rows = planned.postings.map((posting): PostingRow => {
      const postingId = postingIds[nextPosting++];
      if (postingId === undefined)
        throw new LedgerInvariantError('fewer posting ids than postings');
      // Later postings of the same account carry its later running balance.
      balances.set(posting.account.id, posting.balanceAfterMinor);
      return {
        id: postingId,
        entryId,
        accountId: posting.account.id,
        direction: posting.direction,
        amountMinor: posting.amountMinor,
        currency: posting.account.currency,
        balanceAfterMinor: posting.balanceAfterMinor,
        counterpartyAccountId: posting.counterparty.id,
        createdAt: now,
      };
    });
    assertEntryBalances(entry, rows);
    const own = rows[0];
    if (own !== undefined) planned.outcome.transaction.id = own.id.toString();
    entryRows.push(entry);
    postingRows.push(...rows);
    posted.push(
      transactionPosted({
        entryId,
        kind: planned.kind,
        amountMinor: planned.amountMinor,
        currency: planned.currency,
        description: planned.description,
        actorUserId: planned.actorUserId,
        createdAt: now,
        legs: rows.map((row, k) => ({
          postingId: row.id,
          accountNumber: planned.postings[k]?.account.accountNumber ?? '',
          direction: row.direction,
          balanceAfterMinor: row.balanceAfterMinor,
        })),
      }),
    );
  });
  return { entryRows, postingRows, balances, posted };
}

/** The batch's idempotency keys as rows, each with its outcome as the key will answer it. */
function keyRows(batch: BatchState, now: string): NewIdempotencyKey[] {
  return batch.keysToStore.map((k) => ({
    userId: k.userId,
    key: k.key,
    requestHash: k.requestHash,
    outcome: JSON.stringify(k.outcome),
    now,
  }));
}

/**
 * The one persist step of the write path: writes everything the batch decided, in its
 * transaction, and checks that every write touched exactly the rows it meant to. Any
 * mismatch throws a `LedgerInvariantError`, and the transaction (the whole batch) rolls
 * back: nothing is half done.
 *
 * Order: balances first (a vanished account is caught before anything else is written),
 * then entries and postings, idempotency keys, PIN counters, audit events, and last the
 * extra rows of the batch (`batch.extraWrites`: holds and other rows of command kinds),
 * and last the batch's outbox events (`transaction.posted` for each entry, then
 * `batch.events`), all in the same transaction.
 */
export async function persistBatch(trx: Trx, engine: Engine, batch: BatchState): Promise<void> {
  const { now } = batch;
  const events: NewEvent[] = [];
  let keysWritten = false;
  if (batch.entries.length > 0) {
    const { entryRows, postingRows, balances, posted } = await rowsOf(
      trx,
      engine,
      now,
      batch.entries,
    );
    events.push(...posted);
    const balanceRows = [...balances].map(([accountId, balanceMinor]) => ({
      accountId,
      balanceMinor,
    }));
    if (engine === 'postgres') {
      // One statement (issue #17). The idempotency keys go in it unless a command kind's
      // extra writes come later (they may complete an outcome the key stores). The events
      // go in it too when nothing else is to be written after them: holding the event
      // counter's lock from here to commit then costs no extra round trip, which is the
      // order's whole point.
      keysWritten = batch.extraWrites.length === 0;
      const keys = keysWritten ? keyRows(batch, now) : [];
      const eventsToo =
        batch.pinStates.size === 0 && batch.audit.length === 0 && batch.extraWrites.length === 0;
      const all = eventsToo ? [...events, ...batch.events] : [];
      const written = await writeBatchPostgres(trx, {
        balances: balanceRows,
        entries: entryRows,
        postings: postingRows,
        keys,
        events: unnumberedEvents(all),
      });
      expectRows('account balances', balanceRows.length, written.balances);
      expectRows('journal entries', entryRows.length, written.entries);
      expectRows('postings', postingRows.length, written.postings);
      expectRows('idempotency keys', keys.length, written.keys);
      expectRows('events', all.length, written.events);
      if (eventsToo) return;
    } else {
      expectRows(
        'account balances',
        balanceRows.length,
        await setBalances(trx, engine, balanceRows),
      );
      expectRows('journal entries', entryRows.length, await insertEntries(trx, engine, entryRows));
      expectRows('postings', postingRows.length, await insertPostings(trx, engine, postingRows));
    }
  }
  if (!keysWritten && batch.keysToStore.length > 0) {
    const keys = keyRows(batch, now);
    expectRows('idempotency keys', keys.length, await insertIdempotencyKeys(trx, keys));
  }
  if (batch.pinStates.size > 0) {
    const states = [...batch.pinStates.values()];
    expectRows('PIN counters', states.length, await savePinStates(trx, states, now));
  }
  for (const event of batch.audit) await appendAudit(trx, engine, event, now);
  for (const write of batch.extraWrites) {
    await write({ trx, engine, now, entries: batch.entries });
  }
  // The batch's outbox events, one multi-row insert in the batch's transaction. Taken last,
  // so the event counter's lock (which orders every writer of events) is held only briefly.
  await appendEvents(trx, [...events, ...batch.events]);
}
