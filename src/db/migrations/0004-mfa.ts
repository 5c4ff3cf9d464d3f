import type { Kysely, Migration } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * TOTP multi-factor authentication. The shared secret is stored only encrypted (AES-256-GCM
 * under a key derived from the server's pepper), and recovery codes only as keyed hashes,
 * so the database alone reveals neither. `last_used_step` is the newest TOTP time step
 * accepted for the user: a code of that step or an older one is refused, so a code seen
 * once (shoulder-surfed, phished, logged by a proxy) cannot be replayed.
 */
export function mfaMigration(engine: Engine): Migration {
  const pgsql = engine === 'postgres';
  const int64 = pgsql ? 'bigint' : 'integer';
  const timestamp = pgsql ? 'timestamptz' : 'text';
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('user_mfa')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id'))
        .addColumn('secret_ciphertext', 'text', (c) => c.notNull())
        // Null while enrolment is pending (secret shown, first code not yet confirmed).
        .addColumn('enabled_at', timestamp)
        .addColumn('last_used_step', int64)
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('updated_at', timestamp, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('mfa_recovery_codes')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('code_hash', 'text', (c) => c.notNull())
        .addColumn('used_at', timestamp)
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addPrimaryKeyConstraint('mfa_recovery_codes_pkey', ['user_id', 'code_hash'])
        .execute();
    },
  };
}
