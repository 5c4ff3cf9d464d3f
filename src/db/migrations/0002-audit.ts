import { type Kysely, type Migration, sql } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * The audit trail: an append-only, hash-chained table of security-relevant events, and a
 * one-row head that records the chain's last hash and length, so that deleting the newest
 * events is detected as surely as editing or deleting older ones.
 */
export function auditMigration(engine: Engine): Migration {
  const pgsql = engine === 'postgres';
  const int64 = pgsql ? 'bigint' : 'integer';
  const timestamp = pgsql ? 'timestamptz' : 'text';
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('audit_events')
        .addColumn('id', int64, (c) =>
          pgsql ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey(),
        )
        .addColumn('at', timestamp, (c) => c.notNull())
        .addColumn('actor_user_id', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('ip', 'text')
        .addColumn('details', 'text')
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addCheckConstraint(
          'audit_events_outcome_check',
          sql`outcome in ('success', 'failure', 'denied')`,
        )
        .execute();
      await db.schema.createIndex('audit_events_at_idx').on('audit_events').column('at').execute();

      await db.schema
        .createTable('audit_head')
        .addColumn('id', int64, (c) => c.primaryKey())
        .addColumn('last_hash', 'text', (c) => c.notNull())
        .addColumn('length', int64, (c) => c.notNull())
        .addCheckConstraint('audit_head_single_row', sql`id = 1`)
        .execute();
      await db
        .insertInto('audit_head')
        .values({ id: 1, last_hash: 'genesis', length: 0 })
        .execute();

      if (pgsql) {
        await sql`
          create trigger audit_events_append_only
          before update or delete on audit_events
          for each row execute function corebank_append_only()`.execute(db);
        await sql`
          create trigger audit_events_no_truncate
          before truncate on audit_events
          for each statement execute function corebank_append_only()`.execute(db);
      } else {
        for (const event of ['update', 'delete']) {
          await sql`
            create trigger ${sql.raw(`audit_events_no_${event}`)}
            before ${sql.raw(event)} on audit_events
            begin
              select raise(abort, 'audit_events is append-only');
            end`.execute(db);
        }
      }
    },
  };
}
