import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth/roles.ts';
import type { TokenService } from '../auth/tokens.ts';
import { CorebankError } from '../errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

/**
 * An onRequest hook that accepts only a valid bearer access token. It runs before the body
 * is parsed and validated, so an anonymous caller learns nothing about validation rules and
 * costs no parsing.
 */
export function authenticate(tokens: TokenService) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    const match = header === undefined ? null : BEARER.exec(header);
    if (match?.[1] === undefined) {
      throw new CorebankError(
        'UNAUTHENTICATED',
        'send an access token as "Authorization: Bearer <token>"',
      );
    }
    request.principal = await tokens.verifyAccessToken(match[1]);
  };
}

export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) {
    // Routes that call this are registered behind `authenticate`; reaching here is a bug.
    throw new Error('route needs authentication but has no principal');
  }
  return request.principal;
}
