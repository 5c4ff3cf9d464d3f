import crypto from 'node:crypto';
import { sql } from 'kysely';
import type { Db, Trx } from '../db/database.ts';

/**
 * The transactional outbox (docs/decisions/0010-events-outbox.md). Every change that other
 * systems must hear about writes its event with `appendEvents` inside the transaction that
 * makes the change, so the event exists exactly when the change committed.
 */

/** Every event type of the contract ("Events for other systems"), `area.verb`, past tense. */
export const EVENT_TYPES = [
  'transaction.posted',
  'hold.created',
  'hold.captured',
  'hold.voided',
  'hold.expired',
  'payment.created',
  'payment.submitted',
  'payment.settled',
  'payment.rejected',
  'payment.failed',
  'payment.received',
  'payment.returned',
  'account.opened',
  'account.frozen',
  'account.unfrozen',
  'user.locked',
  'user.unlocked',
  'approval.requested',
  'approval.decided',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}

/** The `source` attribute of every event this bank writes (a URI reference). */
export const EVENT_SOURCE = '/corebank';

export type EventData = { readonly [key: string]: unknown };

export interface NewEvent {
  type: EventType;
  data: EventData;
  /** When the change happened; defaults to now. */
  time?: string;
}

/** One event as other systems see it: CloudEvents 1.0, structured JSON mode. */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: EventType;
  time: string;
  /** Increases by exactly one per event, across every type: a gap means a lost event. */
  sequence: number;
  datacontenttype: 'application/json';
  data: EventData;
}

/**
 * Appends events inside the caller's transaction and returns them with their sequence
 * numbers. The numbers come from a one-row counter that is incremented in the same
 * transaction: on PostgreSQL the UPDATE takes that row's lock until commit, so writers of
 * events commit one at a time in sequence order (several processes included), and a
 * rolled-back transaction gives its numbers back; SQLite serialises writers anyway. A
 * reader that sees sequence n has therefore also seen every number below it.
 */
export async function appendEvents(trx: Trx, events: readonly NewEvent[]): Promise<CloudEvent[]> {
  if (events.length === 0) return [];
  const count = BigInt(events.length);
  const counter = await sql<{ last_sequence: bigint }>`
    update event_sequence set last_sequence = last_sequence + ${count}
    where id = 1
    returning last_sequence`.execute(trx);
  const last = counter.rows[0]?.last_sequence;
  if (last === undefined) throw new Error('event_sequence has no row: migration 0008 missing');
  const first = BigInt(last) - count + 1n;
  const written = unnumberedEvents(events).map(
    (event, index): CloudEvent => ({ ...event, sequence: Number(first + BigInt(index)) }),
  );
  for (let i = 0; i < written.length; i += ROWS_PER_STATEMENT) {
    await trx
      .insertInto('events')
      .values(
        written.slice(i, i + ROWS_PER_STATEMENT).map((event) => ({
          sequence: BigInt(event.sequence),
          id: event.id,
          type: event.type,
          source: event.source,
          time: event.time,
          data: JSON.stringify(event.data),
        })),
      )
      .execute();
  }
  return written;
}

/**
 * The events as they will be written, all but their sequence numbers: those come from the
 * counter, in the statement that writes them (`appendEvents`, or the PostgreSQL batch
 * statement of src/ledger/batch-repository.ts, which numbers them in the given order).
 */
export function unnumberedEvents(events: readonly NewEvent[]): Array<Omit<CloudEvent, 'sequence'>> {
  const now = new Date().toISOString();
  return events.map((event) => ({
    specversion: '1.0',
    id: crypto.randomUUID(),
    source: EVENT_SOURCE,
    type: event.type,
    time: event.time ?? now,
    datacontenttype: 'application/json',
    data: event.data,
  }));
}

/** One event, inside the caller's transaction (see `appendEvents`). */
export async function appendEvent(trx: Trx, event: NewEvent): Promise<CloudEvent> {
  const [written] = await appendEvents(trx, [event]);
  if (written === undefined) throw new Error('appendEvents wrote nothing');
  return written;
}

const ROWS_PER_STATEMENT = 500;

type EventRow = {
  sequence: bigint;
  id: string;
  type: string;
  source: string;
  time: string;
  data: string;
};

export function toCloudEvent(row: EventRow): CloudEvent {
  return {
    specversion: '1.0',
    id: row.id,
    source: row.source,
    // Only appendEvents writes this table, and it takes an EventType.
    type: row.type as EventType,
    time: row.time,
    sequence: Number(row.sequence),
    datacontenttype: 'application/json',
    data: JSON.parse(row.data) as EventData,
  };
}

/** Events with a sequence above `after`, oldest first. */
export async function readEventsAfter(
  db: Db | Trx,
  after: bigint,
  limit: number,
): Promise<CloudEvent[]> {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .where('sequence', '>', after)
    .orderBy('sequence')
    .limit(limit)
    .execute();
  return rows.map(toCloudEvent);
}

/** The newest sequence number committed so far (0 before the first event). */
export async function lastSequence(db: Db): Promise<bigint> {
  const row = await db
    .selectFrom('event_sequence')
    .select('last_sequence')
    .where('id', '=', 1n)
    .executeTakeFirst();
  return row === undefined ? 0n : BigInt(row.last_sequence);
}
