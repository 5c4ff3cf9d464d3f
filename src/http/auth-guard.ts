import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/roles.ts';
import type { TokenService } from '../auth/tokens.ts';
import { CorebankError } from '../errors.ts';
import type { App } from './types.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

// The scheme name is case-insensitive (RFC 9110 section 11.1); the token itself is not.
const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

export interface AuthenticateOptions {
  /**
   * `allow` only on the routes a staff member needs to enrol MFA and look after their own
   * sign-in (`/me`, `/me/mfa/*`, password change, sessions, logout). Everywhere else a staff
   * caller without confirmed MFA is refused with 403 MFA_ENROLMENT_REQUIRED.
   */
  staffWithoutMfa?: 'allow' | 'refuse';
}

/** For the signed-in user's own sign-in routes, which staff without MFA still reach. */
export const OWN_SIGN_IN: AuthenticateOptions = { staffWithoutMfa: 'allow' };

/**
 * An onRequest hook that accepts only a valid bearer access token. It runs before the body
 * is parsed and validated, so an anonymous caller learns nothing about validation rules and
 * costs no parsing. It is also the one place that keeps staff without MFA out of staff
 * routes (src/auth/staff-mfa.ts).
 */
export function authenticate(tokens: TokenService, options: AuthenticateOptions = {}) {
  const refuseUnenrolledStaff = options.staffWithoutMfa !== 'allow';
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    const match = header === undefined ? null : BEARER.exec(header);
    if (match?.[1] === undefined) {
      throw new CorebankError(
        'UNAUTHENTICATED',
        'send an access token as "Authorization: Bearer <token>"',
      );
    }
    const principal = await tokens.verifyAccessToken(match[1]);
    // A valid signature is not enough: the session must not have been ended (logout,
    // password change, refresh-token reuse), or a stolen access token outlives them.
    await tokens.assertSessionLive(principal);
    if (refuseUnenrolledStaff) await tokens.assertStaffEnrolled(principal);
    request.principal = principal;
  };
}

export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) {
    // Routes that call this are registered behind `authenticate`; reaching here is a bug.
    throw new Error('route needs authentication but has no principal');
  }
  return request.principal;
}

/**
 * Registers a group of routes that all need a caller: `authenticate` is applied once, to
 * the group, instead of on each route. The routes keep their full, literal paths.
 */
export function authenticatedRoutes(
  app: App,
  tokens: TokenService,
  routes: (scope: App) => void,
): void {
  void app.register(async (plugin) => {
    const scope = plugin.withTypeProvider<TypeBoxTypeProvider>();
    scope.addHook('onRequest', authenticate(tokens));
    routes(scope);
  });
}
