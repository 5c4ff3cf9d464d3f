import { appendAudit } from '../audit/audit.ts';
import type { Role } from '../auth/roles.ts';
import { revokeUserSessions } from '../auth/sessions/repository.ts';
import type { Db, Engine } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { type AdminUserView, toAdminUserView } from './access.ts';
import { findAdminUser, lockUserByUsername, replaceUserRoles } from './admin-repository.ts';

export interface RolesChange {
  user: AdminUserView;
  previousRoles: Role[];
  sessionsRevoked: number;
}

/**
 * The operator CLI's role change (the API never changes roles). Roles are replaced, the
 * change is audited and every open session of the user is revoked, all in one transaction:
 * access tokens carry the roles they were issued with, so a demoted admin must not keep
 * acting as one until their token expires.
 */
export async function changeUserRoles(
  database: { db: Db; engine: Engine },
  username: string,
  roles: readonly Role[],
): Promise<RolesChange> {
  const { db, engine } = database;
  const unique = [...new Set(roles)].sort();
  if (unique.length === 0) {
    throw new CorebankError('VALIDATION_FAILED', 'a user needs at least one role', 'role');
  }
  const outcome = await db.transaction().execute(async (trx) => {
    const now = new Date().toISOString();
    const user = await lockUserByUsername(trx, engine, username.toLowerCase());
    if (user === null) return null;
    await replaceUserRoles(trx, user.id, unique, now);
    const sessionsRevoked = (await revokeUserSessions(trx, user.id, 'roles_changed', now, null))
      .length;
    await appendAudit(
      trx,
      engine,
      {
        actorUserId: null,
        action: 'user.roles_changed',
        target: `user:${user.id}`,
        outcome: 'success',
        ip: null,
        details: {
          from: user.roles.join(','),
          to: unique.join(','),
          sessionsRevoked,
        },
      },
      now,
    );
    return { userId: user.id, previousRoles: user.roles, sessionsRevoked };
  });
  if (outcome === null) throw new CorebankError('NOT_FOUND', `no user named ${username}`);
  const user = await findAdminUser(db, outcome.userId);
  if (user === null) throw new Error('user vanished after a role change');
  return {
    user: toAdminUserView(user),
    previousRoles: outcome.previousRoles,
    sessionsRevoked: outcome.sessionsRevoked,
  };
}
