import { CorebankError } from '../errors.ts';
import { hasRole, type Principal, type Role } from './roles.ts';

/** Answers whether a user has confirmed MFA (a pending enrolment does not count). */
export interface MfaEnrolment {
  isEnabled(userId: string): Promise<boolean>;
}

/** Whether the principal holds a staff role (every role but `customer`). */
export function isStaff(principal: Principal): boolean {
  return hasRole(principal, 'teller', 'admin', 'auditor');
}

/**
 * Staff must enrol MFA before any staff action (issue #10, item 6): a stolen staff password
 * alone must not freeze accounts, move a customer's cash or approve anything. Called once,
 * from the authentication hook of every route (src/http/auth-guard.ts), so a staff route
 * added later is covered without remembering to call it. The routes a staff member needs to
 * enrol (`/me`, `/me/mfa/*`, sessions, password change, logout) opt out there. Customers
 * are not affected: for them MFA stays optional.
 */
export async function assertStaffEnrolled(
  principal: Principal,
  enrolment: MfaEnrolment,
): Promise<void> {
  if (!isStaff(principal)) return;
  if (await enrolment.isEnabled(principal.userId)) return;
  throw new CorebankError(
    'MFA_ENROLMENT_REQUIRED',
    'staff must turn on two-factor authentication before any staff action: ' +
      'POST /api/v1/me/mfa/enrol, then POST /api/v1/me/mfa/confirm with a code from the app',
  );
}

/**
 * What the operator CLI prints (on stderr, so stdout stays JSON) when it makes someone staff
 * who has not enrolled MFA: how the new staff member enrols, or they can do nothing.
 */
export function staffEnrolmentNotice(username: string, roles: readonly Role[]): string | null {
  if (!roles.some((role) => role !== 'customer')) return null;
  return (
    `corebank: ${username} is staff (${roles.join(', ')}) and must turn on two-factor ` +
    'authentication before any staff action (until then every staff route answers 403 ' +
    'MFA_ENROLMENT_REQUIRED). Have them sign in to the dashboard and follow Security > ' +
    'Two-factor authentication, or through the API: POST /api/v1/me/mfa/enrol with ' +
    '{"password"}, add the secret to an authenticator app, then POST /api/v1/me/mfa/confirm ' +
    'with {"code"} and keep the recovery codes.\n'
  );
}
