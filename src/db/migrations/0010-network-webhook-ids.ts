import type { Kysely, Migration } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * Ids of the payment network's webhook deliveries already taken (Standard Webhooks
 * `webhook-id`), so a replayed delivery is refused across every server process. The primary
 * key makes "remember" one atomic insert; `expires_at` says when a row may be pruned (its
 * delivery's signed timestamp has left the 5-minute window by then).
 */
export function networkWebhookIdsMigration(engine: Engine): Migration {
  const timestamp = engine === 'postgres' ? 'timestamptz' : 'text';
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('network_webhook_ids')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('received_at', timestamp, (c) => c.notNull())
        .addColumn('expires_at', timestamp, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('network_webhook_ids_expires_at')
        .on('network_webhook_ids')
        .column('expires_at')
        .execute();
    },
  };
}
