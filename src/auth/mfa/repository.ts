import type { Db, Engine, Trx } from '../../db/database.ts';

/** All SQL about TOTP enrolments and recovery codes. */

export interface MfaRow {
  secretCiphertext: string;
  enabled: boolean;
}

export async function findMfa(db: Db | Trx, userId: string): Promise<MfaRow | null> {
  const row = await db
    .selectFrom('user_mfa')
    .select(['secret_ciphertext', 'enabled_at'])
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (row === undefined) return null;
  return { secretCiphertext: row.secret_ciphertext, enabled: row.enabled_at !== null };
}

/** The enrolment row, locked on PostgreSQL until the transaction ends. */
export async function findMfaForUpdate(
  trx: Trx,
  engine: Engine,
  userId: string,
): Promise<MfaRow | null> {
  const row = await trx
    .selectFrom('user_mfa')
    .select(['secret_ciphertext', 'enabled_at'])
    .where('user_id', '=', userId)
    .$if(engine === 'postgres', (q) => q.forUpdate())
    .executeTakeFirst();
  if (row === undefined) return null;
  return { secretCiphertext: row.secret_ciphertext, enabled: row.enabled_at !== null };
}

/**
 * Records a TOTP step as used, in the same statement that refuses a step already used. The
 * conditional UPDATE is atomic on both engines, so two requests racing with one code cannot
 * both succeed.
 */
export async function markTotpStepUsed(
  db: Db | Trx,
  userId: string,
  step: bigint,
  now: string,
): Promise<boolean> {
  const result = await db
    .updateTable('user_mfa')
    .set({ last_used_step: step, updated_at: now })
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** Spends a recovery code: the conditional UPDATE succeeds once per code, whatever races. */
export async function spendRecoveryCode(
  db: Db | Trx,
  userId: string,
  codeHash: string,
  now: string,
): Promise<boolean> {
  const result = await db
    .updateTable('mfa_recovery_codes')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** Starts or restarts a pending enrolment; false when MFA is already enabled. */
export async function upsertPendingEnrolment(
  db: Db,
  userId: string,
  ciphertext: string,
  now: string,
): Promise<boolean> {
  const result = await db
    .insertInto('user_mfa')
    .values({
      user_id: userId,
      secret_ciphertext: ciphertext,
      enabled_at: null,
      last_used_step: null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc
        .column('user_id')
        .doUpdateSet({
          secret_ciphertext: ciphertext,
          last_used_step: null,
          created_at: now,
          updated_at: now,
        })
        .where('user_mfa.enabled_at', 'is', null),
    )
    .executeTakeFirst();
  return result.numInsertedOrUpdatedRows === 1n;
}

/** Turns a confirmed enrolment on and replaces the recovery codes with new ones. */
export async function enableMfa(
  trx: Trx,
  userId: string,
  recoveryCodeHashes: readonly string[],
  now: string,
): Promise<void> {
  await trx
    .updateTable('user_mfa')
    .set({ enabled_at: now, updated_at: now })
    .where('user_id', '=', userId)
    .execute();
  await replaceRecoveryCodes(trx, userId, recoveryCodeHashes, now);
}

/** Replaces every recovery code of the user (used or not) with the given new ones. */
export async function replaceRecoveryCodes(
  trx: Trx,
  userId: string,
  recoveryCodeHashes: readonly string[],
  now: string,
): Promise<void> {
  await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
  await trx
    .insertInto('mfa_recovery_codes')
    .values(
      recoveryCodeHashes.map((codeHash) => ({
        user_id: userId,
        code_hash: codeHash,
        used_at: null,
        created_at: now,
      })),
    )
    .execute();
}

export async function deleteMfa(trx: Trx, userId: string): Promise<void> {
  await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
  await trx.deleteFrom('user_mfa').where('user_id', '=', userId).execute();
}
