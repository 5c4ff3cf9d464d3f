import cookie from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import { CorebankError } from '../../errors.ts';
import type { App } from '../../http/types.ts';

/**
 * The refresh token as a cookie, for the web dashboard. A browser page must not keep a
 * refresh token where script can read it (an XSS would steal a seven-day credential), so
 * login and refresh also set it as an HttpOnly cookie, and refresh and logout accept it
 * from there. API clients keep using the body and never need the cookie.
 */
export const REFRESH_COOKIE = 'corebank_refresh';

/** Only the two endpoints that read it ever receive it. */
const COOKIE_PATH = '/api/v1/auth';

/**
 * The CSRF defence for cookie-authenticated calls: a custom header. A cross-site form or
 * `fetch` cannot set it without a CORS preflight, which we refuse (no origin is allowed
 * unless CORS_ORIGINS lists it, and this header is never allowed). SameSite=Strict is the
 * first line; this is the second, for browsers or proxies that do not honour SameSite.
 */
export const CSRF_HEADER = 'x-requested-with';
export const CSRF_HEADER_VALUE = 'corebank';

const ISSUING_ROUTES = new Set(['/api/v1/auth/login', '/api/v1/auth/refresh']);

export async function registerRefreshCookie(app: App, config: Config): Promise<void> {
  await app.register(cookie, { hook: 'onRequest', parseOptions: {} });
  // Every successful token answer from login or refresh also sets the cookie. Done here,
  // on the serialised answer's way out, so the auth services stay free of HTTP concerns.
  // Synchronous (issue #17): it runs on every answer with a body, and has nothing to await.
  app.addHook('preSerialization', (request, reply, payload: unknown, done) => {
    if (
      reply.statusCode === 200 &&
      request.method === 'POST' &&
      ISSUING_ROUTES.has(request.routeOptions.url ?? '') &&
      typeof payload === 'object' &&
      payload !== null &&
      'refreshToken' in payload &&
      typeof payload.refreshToken === 'string'
    ) {
      reply.setCookie(REFRESH_COOKIE, payload.refreshToken, {
        httpOnly: true,
        // Browsers treat localhost as a secure context, so this works in development too.
        secure: true,
        sameSite: 'strict',
        path: COOKIE_PATH,
        maxAge: config.refreshTokenTtlSeconds,
      });
    }
    done(null, payload);
  });
}

export function clearRefreshCookie(reply: FastifyReply): void {
  reply.clearCookie(REFRESH_COOKIE, {
    httpOnly: true,
    secure: true,
    sameSite: 'strict',
    path: COOKIE_PATH,
  });
}

/**
 * The refresh token of a refresh or logout call: from the body when given (API clients),
 * else from the cookie, which then requires the CSRF header.
 */
export function refreshTokenOf(
  request: FastifyRequest,
  fromBody: string | undefined,
): { token: string; viaCookie: boolean } {
  if (fromBody !== undefined) return { token: fromBody, viaCookie: false };
  const fromCookie = request.cookies[REFRESH_COOKIE];
  if (fromCookie === undefined || fromCookie.length === 0) {
    throw new CorebankError('VALIDATION_FAILED', 'refreshToken is required', 'body.refreshToken');
  }
  if (request.headers[CSRF_HEADER] !== CSRF_HEADER_VALUE) {
    throw new CorebankError(
      'FORBIDDEN',
      `a cookie-authenticated call must send the header ${CSRF_HEADER}: ${CSRF_HEADER_VALUE}`,
    );
  }
  return { token: fromCookie, viaCookie: true };
}
