import type { Kysely, Migration } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * Signed-in devices (issue #16): each session row records the client that made it, its
 * User-Agent (cut to 256 characters) and address, so a user can tell their logins apart and
 * end one. Both are null for sessions made before this migration. The index serves "my live
 * sessions" (user, not revoked, not spent).
 */
export function sessionDevicesMigration(_engine: Engine): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('sessions').addColumn('user_agent', 'text').execute();
      await db.schema.alterTable('sessions').addColumn('client_ip', 'text').execute();
      await db.schema
        .createIndex('sessions_user_live_idx')
        .on('sessions')
        .columns(['user_id', 'revoked_at', 'spent_at'])
        .execute();
    },
  };
}
