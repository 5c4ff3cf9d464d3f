import type { Db } from '../db/database.ts';
import type { CloudEvent, EventType } from '../events/outbox.ts';
import { toCloudEvent } from '../events/outbox.ts';

/** All SQL of webhook endpoints, deliveries and attempts. */

export interface EndpointRecord {
  id: string;
  url: string;
  description: string | null;
  eventTypes: EventType[];
  secretCiphertext: string;
  status: 'enabled' | 'disabled';
  consecutiveFailures: number;
  disabledAt: string | null;
  disabledReason: string | null;
  createdAt: string;
}

type EndpointRow = {
  id: string;
  url: string;
  description: string | null;
  event_types: string;
  secret_ciphertext: string;
  status: 'enabled' | 'disabled';
  consecutive_failures: bigint;
  disabled_at: string | null;
  disabled_reason: string | null;
  created_at: string;
};

function toEndpoint(row: EndpointRow): EndpointRecord {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: JSON.parse(row.event_types) as EventType[],
    secretCiphertext: row.secret_ciphertext,
    status: row.status,
    consecutiveFailures: Number(row.consecutive_failures),
    disabledAt: row.disabled_at,
    disabledReason: row.disabled_reason,
    createdAt: row.created_at,
  };
}

const ENDPOINT_COLUMNS = [
  'id',
  'url',
  'description',
  'event_types',
  'secret_ciphertext',
  'status',
  'consecutive_failures',
  'disabled_at',
  'disabled_reason',
  'created_at',
] as const;

export async function insertEndpoint(
  db: Db,
  endpoint: {
    id: string;
    url: string;
    description: string | null;
    eventTypes: readonly string[];
    secretCiphertext: string;
    createdBy: string;
    now: string;
  },
): Promise<void> {
  await db
    .insertInto('webhook_endpoints')
    .values({
      id: endpoint.id,
      url: endpoint.url,
      description: endpoint.description,
      event_types: JSON.stringify(endpoint.eventTypes),
      secret_ciphertext: endpoint.secretCiphertext,
      status: 'enabled',
      consecutive_failures: 0n,
      disabled_at: null,
      disabled_reason: null,
      created_by: endpoint.createdBy,
      created_at: endpoint.now,
      deleted_at: null,
    })
    .execute();
}

export async function listEndpoints(db: Db): Promise<EndpointRecord[]> {
  const rows = await db
    .selectFrom('webhook_endpoints')
    .select(ENDPOINT_COLUMNS)
    .where('deleted_at', 'is', null)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
  return rows.map(toEndpoint);
}

export async function findEndpoint(db: Db, id: string): Promise<EndpointRecord | null> {
  const row = await db
    .selectFrom('webhook_endpoints')
    .select(ENDPOINT_COLUMNS)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return row === undefined ? null : toEndpoint(row);
}

export async function countEndpoints(db: Db): Promise<number> {
  const row = await db
    .selectFrom('webhook_endpoints')
    .select((eb) => eb.fn.countAll<bigint>().as('n'))
    .where('deleted_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Deletion keeps the row (its delivery log stays readable to the bank) and stops sending. */
export async function deleteEndpoint(db: Db, id: string, now: string): Promise<boolean> {
  const result = await db
    .updateTable('webhook_endpoints')
    .set({ deleted_at: now })
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** Creates one pending delivery per matching (endpoint, event); repeats are ignored. */
export async function insertDeliveries(
  db: Db,
  rows: ReadonlyArray<{ endpointId: string; sequence: bigint }>,
  now: string,
): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('webhook_deliveries')
      .values(
        rows.slice(i, i + 500).map((row) => ({
          endpoint_id: row.endpointId,
          event_sequence: row.sequence,
          status: 'pending' as const,
          attempts: 0n,
          next_attempt_at: now,
          last_response_status: null,
          created_at: now,
          updated_at: now,
        })),
      )
      .onConflict((oc) => oc.columns(['endpoint_id', 'event_sequence']).doNothing())
      .execute();
  }
}

export interface DueDelivery {
  id: bigint;
  endpoint: EndpointRecord;
  attempts: number;
  event: CloudEvent;
}

/** Pending deliveries that are due, of enabled endpoints, oldest event first. */
export async function findDueDeliveries(
  db: Db,
  now: string,
  limit: number,
): Promise<DueDelivery[]> {
  const rows = await db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_endpoints as w', 'w.id', 'd.endpoint_id')
    .innerJoin('events as e', 'e.sequence', 'd.event_sequence')
    .select([
      'd.id as delivery_id',
      'd.attempts',
      'w.id',
      'w.url',
      'w.description',
      'w.event_types',
      'w.secret_ciphertext',
      'w.status',
      'w.consecutive_failures',
      'w.disabled_at',
      'w.disabled_reason',
      'w.created_at',
      'e.sequence',
      'e.id as event_id',
      'e.type',
      'e.source',
      'e.time',
      'e.data',
    ])
    .where('d.status', '=', 'pending')
    .where('d.next_attempt_at', '<=', now)
    .where('w.status', '=', 'enabled')
    .where('w.deleted_at', 'is', null)
    .orderBy('d.event_sequence')
    .orderBy('d.id')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    id: row.delivery_id,
    attempts: Number(row.attempts),
    endpoint: toEndpoint(row),
    event: toCloudEvent({
      sequence: row.sequence,
      id: row.event_id,
      type: row.type,
      source: row.source,
      time: row.time,
      data: row.data,
    }),
  }));
}

/**
 * Claims one due delivery for sending until `claimUntil`: a compare-and-set on
 * `next_attempt_at`, so if two processes ever try the same delivery (a dispatcher whose
 * lease ran out mid-pass and its successor), only one sends it. A sender that dies leaves
 * the delivery due again at `claimUntil`.
 */
export async function claimDelivery(
  db: Db,
  id: bigint,
  now: string,
  claimUntil: string,
): Promise<boolean> {
  const result = await db
    .updateTable('webhook_deliveries')
    .set({ next_attempt_at: claimUntil, updated_at: now })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export interface AttemptOutcome {
  deliveryId: bigint;
  endpointId: string;
  eventId: string;
  attempt: number;
  succeeded: boolean;
  responseStatus: number | null;
  error: string | null;
  durationMs: number;
  /** Null: no more tries (succeeded, or given up). */
  nextAttemptAt: string | null;
  /** Failures in a row at which the endpoint is disabled. */
  disableAfterFailures: number;
  now: string;
}

/**
 * Records one attempt: the log row, the delivery's state and the endpoint's run of
 * failures, in one transaction. Returns true when this failure disabled the endpoint.
 */
export async function recordAttempt(db: Db, outcome: AttemptOutcome): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto('webhook_attempts')
      .values({
        delivery_id: outcome.deliveryId,
        endpoint_id: outcome.endpointId,
        event_id: outcome.eventId,
        attempt: BigInt(outcome.attempt),
        status: outcome.succeeded ? 'succeeded' : 'failed',
        response_status: outcome.responseStatus === null ? null : BigInt(outcome.responseStatus),
        error: outcome.error?.slice(0, 300) ?? null,
        duration_ms: BigInt(outcome.durationMs),
        at: outcome.now,
      })
      .execute();
    await trx
      .updateTable('webhook_deliveries')
      .set({
        attempts: BigInt(outcome.attempt),
        status: outcome.succeeded
          ? 'succeeded'
          : outcome.nextAttemptAt === null
            ? 'failed'
            : 'pending',
        ...(outcome.nextAttemptAt === null ? {} : { next_attempt_at: outcome.nextAttemptAt }),
        last_response_status:
          outcome.responseStatus === null ? null : BigInt(outcome.responseStatus),
        updated_at: outcome.now,
      })
      .where('id', '=', outcome.deliveryId)
      .execute();
    if (outcome.succeeded) {
      await trx
        .updateTable('webhook_endpoints')
        .set({ consecutive_failures: 0n })
        .where('id', '=', outcome.endpointId)
        .execute();
      return false;
    }
    const endpoint = await trx
      .updateTable('webhook_endpoints')
      .set((eb) => ({ consecutive_failures: eb('consecutive_failures', '+', 1n) }))
      .where('id', '=', outcome.endpointId)
      .returning(['consecutive_failures', 'status'])
      .executeTakeFirst();
    if (
      endpoint !== undefined &&
      endpoint.status === 'enabled' &&
      Number(endpoint.consecutive_failures) >= outcome.disableAfterFailures
    ) {
      await trx
        .updateTable('webhook_endpoints')
        .set({
          status: 'disabled',
          disabled_at: outcome.now,
          disabled_reason: `${endpoint.consecutive_failures} failed attempts in a row`,
        })
        .where('id', '=', outcome.endpointId)
        .execute();
      return true;
    }
    return false;
  });
}

export interface AttemptRecord {
  id: bigint;
  eventId: string;
  attempt: number;
  status: 'succeeded' | 'failed';
  responseStatus: number | null;
  error: string | null;
  durationMs: number;
  at: string;
}

export async function listAttempts(
  db: Db,
  endpointId: string,
  page: { limit: number; beforeId: bigint | null },
): Promise<AttemptRecord[]> {
  const rows = await db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('endpoint_id', '=', endpointId)
    .$if(page.beforeId !== null, (q) => q.where('id', '<', page.beforeId ?? 0n))
    .orderBy('id', 'desc')
    .limit(page.limit)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    eventId: row.event_id,
    attempt: Number(row.attempt),
    status: row.status,
    responseStatus: row.response_status === null ? null : Number(row.response_status),
    error: row.error,
    durationMs: Number(row.duration_ms),
    at: row.at,
  }));
}
