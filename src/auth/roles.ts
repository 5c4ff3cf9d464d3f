export const ROLES = ['customer', 'teller', 'admin', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Who is acting: taken from a verified access token, or the CLI's operator. */
export interface Principal {
  userId: string;
  sessionId: string;
  roles: readonly Role[];
}

export function hasRole(principal: Principal, ...roles: Role[]): boolean {
  return principal.roles.some((role) => roles.includes(role));
}

/** Staff who may deposit into and withdraw from any customer's account (no PIN; audited). */
export function isCashStaff(principal: Principal): boolean {
  return hasRole(principal, 'teller', 'admin');
}

/** Staff who may read every customer's accounts. */
export function isReadingStaff(principal: Principal): boolean {
  return hasRole(principal, 'teller', 'admin', 'auditor');
}
