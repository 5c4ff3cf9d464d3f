import { type Kysely, type Migration, sql } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * Events for other systems (docs/decisions/0010-events-outbox.md): the transactional
 * outbox, its one-row sequence counter, the cursors and leases of its consumers (the NATS
 * publisher, the webhook fan-out), and the webhook endpoints, deliveries and attempts.
 */
export function eventsMigration(engine: Engine): Migration {
  const pgsql = engine === 'postgres';
  const int64 = pgsql ? 'bigint' : 'integer';
  const timestamp = pgsql ? 'timestamptz' : 'text';
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      // The sequence is assigned from event_sequence, never from an identity column: an
      // identity (or SQLite rowid) can leave holes on rollback and can commit out of order.
      await db.schema
        .createTable('events')
        .addColumn('sequence', int64, (c) => c.primaryKey())
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('time', timestamp, (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addCheckConstraint('events_sequence_positive', sql`sequence > 0`)
        .execute();

      await db.schema
        .createTable('event_sequence')
        .addColumn('id', int64, (c) => c.primaryKey())
        .addColumn('last_sequence', int64, (c) => c.notNull())
        .addCheckConstraint('event_sequence_single_row', sql`id = 1`)
        .execute();
      await db.insertInto('event_sequence').values({ id: 1, last_sequence: 0 }).execute();

      await db.schema
        .createTable('event_consumers')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('position', int64, (c) => c.notNull())
        .addColumn('holder', 'text')
        .addColumn('lease_until', timestamp)
        .addColumn('updated_at', timestamp, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('webhook_endpoints')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        // JSON array of event types; an empty array means every type.
        .addColumn('event_types', 'text', (c) => c.notNull())
        // AES-256-GCM ciphertext of the signing secret (see src/webhooks/secrets.ts).
        .addColumn('secret_ciphertext', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('consecutive_failures', int64, (c) => c.notNull())
        .addColumn('disabled_at', timestamp)
        .addColumn('disabled_reason', 'text')
        .addColumn('created_by', 'text')
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('deleted_at', timestamp)
        .addCheckConstraint('webhook_endpoints_status', sql`status in ('enabled', 'disabled')`)
        .execute();

      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', int64, (c) =>
          pgsql ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey(),
        )
        .addColumn('endpoint_id', 'text', (c) => c.notNull().references('webhook_endpoints.id'))
        .addColumn('event_sequence', int64, (c) => c.notNull().references('events.sequence'))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', int64, (c) => c.notNull())
        .addColumn('next_attempt_at', timestamp, (c) => c.notNull())
        .addColumn('last_response_status', int64)
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('updated_at', timestamp, (c) => c.notNull())
        .addUniqueConstraint('webhook_deliveries_once', ['endpoint_id', 'event_sequence'])
        .addCheckConstraint(
          'webhook_deliveries_status',
          sql`status in ('pending', 'succeeded', 'failed')`,
        )
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_due_idx')
        .on('webhook_deliveries')
        .columns(['status', 'next_attempt_at'])
        .execute();

      await db.schema
        .createTable('webhook_attempts')
        .addColumn('id', int64, (c) =>
          pgsql ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey(),
        )
        .addColumn('delivery_id', int64, (c) => c.notNull().references('webhook_deliveries.id'))
        .addColumn('endpoint_id', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('attempt', int64, (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('response_status', int64)
        .addColumn('error', 'text')
        .addColumn('duration_ms', int64, (c) => c.notNull())
        .addColumn('at', timestamp, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('webhook_attempts_endpoint_idx')
        .on('webhook_attempts')
        .columns(['endpoint_id', 'id'])
        .execute();

      // Events are facts: once written they are never changed or removed.
      if (pgsql) {
        await sql`
          create trigger events_append_only
          before update or delete on events
          for each row execute function corebank_append_only()`.execute(db);
        await sql`
          create trigger events_no_truncate
          before truncate on events
          for each statement execute function corebank_append_only()`.execute(db);
      } else {
        for (const event of ['update', 'delete']) {
          await sql`
            create trigger ${sql.raw(`events_no_${event}`)}
            before ${sql.raw(event)} on events
            begin
              select raise(abort, 'events is append-only');
            end`.execute(db);
        }
      }
    },
  };
}
