import { hasRole, type Principal, type Role } from '../auth/roles.ts';
import { CorebankError } from '../errors.ts';
import type { AdminUserRecord } from './admin-repository.ts';

/** What staff see of a user. */
export interface AdminUserView {
  id: string;
  username: string;
  fullName: string;
  roles: Role[];
  locked: boolean;
  lockReason: string | null;
  lockedAt: string | null;
  failedPinAttempts: number;
  createdAt: string;
}

/** Reads are open to admins and auditors; actions to admins only. */
export type StaffPermission = 'read' | 'act';

/** Audited actions and the target each one names, for refusals before the service runs. */
export type AdminActionName =
  | 'user.unlocked'
  | 'account.frozen'
  | 'account.unfrozen'
  | 'webhook.endpoint_created'
  | 'webhook.endpoint_deleted'
  | 'limits.changed'
  | 'approval.requested'
  | 'approval.approved'
  | 'approval.rejected';

/**
 * The staff step-up check (the admin's one-time code, with the shared back-off and lock of
 * every password and code check, a refusal audited as denied): StaffActions.assertStepUp,
 * passed to the other services whose staff actions take a code (webhooks, controls).
 */
export type StaffStepUp = (
  principal: Principal,
  action: AdminActionName,
  target: string | null,
  otp: string | undefined,
  ip: string | null,
) => Promise<void>;

export function toAdminUserView(user: AdminUserRecord): AdminUserView {
  return {
    id: user.id,
    username: user.username,
    fullName: user.fullName,
    roles: user.roles,
    locked: user.lockedAt !== null,
    lockReason: user.lockReason,
    lockedAt: user.lockedAt,
    failedPinAttempts: user.failedPinAttempts,
    createdAt: user.createdAt,
  };
}

/**
 * Throws FORBIDDEN unless the principal may do this. Only admins act; admins and auditors
 * read. Tellers are staff too, but they handle cash for customers, and seeing every user's
 * lock state or the audit trail is not part of that job (least privilege).
 */
export function authorize(principal: Principal, permission: StaffPermission): void {
  const allowed =
    permission === 'act' ? hasRole(principal, 'admin') : hasRole(principal, 'admin', 'auditor');
  if (!allowed) {
    throw new CorebankError(
      'FORBIDDEN',
      permission === 'act' ? 'only admins may do this' : 'only admins and auditors may see this',
    );
  }
}
