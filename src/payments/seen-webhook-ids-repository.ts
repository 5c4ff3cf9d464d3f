import type { Db, Trx } from '../db/database.ts';
import type { SeenWebhookIds } from './network-webhooks.ts';

/**
 * The `network_webhook_ids` table behind `SeenWebhookIds`. `rememberWebhookId` takes `db` or
 * `trx`: called inside the transaction that applies an event's effects, a failure rolls the
 * id back with them, so the network's retry of that event is taken rather than refused.
 */
export async function rememberWebhookId(
  db: Db | Trx,
  id: string,
  receivedAt: string,
  expiresAt: string,
): Promise<boolean> {
  const result = await db
    .insertInto('network_webhook_ids')
    .values({ id, received_at: receivedAt, expires_at: expiresAt })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  const inserted = result.numInsertedOrUpdatedRows ?? 0n;
  if (inserted !== 0n && inserted !== 1n) {
    throw new Error(`remembering webhook id ${id} touched ${inserted} rows`);
  }
  return inserted === 1n;
}

export async function forgetWebhookId(db: Db | Trx, id: string): Promise<void> {
  await db.deleteFrom('network_webhook_ids').where('id', '=', id).execute();
}

/** Drops ids whose replay window has closed; returns how many. */
export async function pruneWebhookIds(db: Db, now: string): Promise<bigint> {
  const result = await db
    .deleteFrom('network_webhook_ids')
    .where('expires_at', '<', now)
    .executeTakeFirst();
  return result.numDeletedRows;
}

/** `SeenWebhookIds` over the table, for a verifier shared by several server processes. */
export class DatabaseSeenWebhookIds implements SeenWebhookIds {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  remember(id: string, expiresAt: Date): Promise<boolean> {
    return rememberWebhookId(this.#db, id, new Date().toISOString(), expiresAt.toISOString());
  }

  forget(id: string): Promise<void> {
    return forgetWebhookId(this.#db, id);
  }
}
