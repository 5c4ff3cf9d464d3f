import type { Kysely, Migration } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * One row that readiness rewrites while the database is reported down, so "the database
 * works again" means a durable write succeeds, not only that `select 1` answers: a full
 * disk (SQLITE_FULL) or a read-only standby after a failover still answers reads.
 */
export function healthProbeMigration(engine: Engine): Migration {
  const timestamp = engine === 'postgres' ? 'timestamptz' : 'text';
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('health_probe')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('checked_at', timestamp, (c) => c.notNull())
        .execute();
      await db
        .insertInto('health_probe')
        .values({ id: 1, checked_at: new Date().toISOString() })
        .execute();
    },
  };
}
