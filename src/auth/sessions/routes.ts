import { Type } from 'typebox';
import { authenticate, OWN_SIGN_IN, principalOf } from '../../http/auth-guard.ts';
import { errorResponses, Security } from '../../http/schemas.ts';
import type { App } from '../../http/types.ts';
import type { TokenService } from '../tokens.ts';
import { clearRefreshCookie, refreshTokenOf } from './refresh-cookie.ts';
import type { SessionService } from './service.ts';

/**
 * Refresh tokens are 32 random bytes in base64url (43 characters); allow some slack. The
 * body may leave it out when the browser sends it as the HttpOnly refresh cookie instead
 * (see refresh-cookie.ts); then the CSRF header is required.
 */
const RefreshBody = Type.Object(
  {
    refreshToken: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_-]+$' }),
    ),
  },
  { additionalProperties: false },
);

const TokenPairSchema = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'seconds' }),
});

const DeviceSchema = Type.Object(
  {
    id: Type.String({ description: 'the login (session family) id' }),
    createdAt: Type.String({ format: 'date-time', description: 'when it signed in' }),
    lastUsedAt: Type.String({ format: 'date-time', description: 'its last token refresh' }),
    device: Type.String({ description: 'browser and system, e.g. "Chrome on Linux"' }),
    ip: Type.Union([Type.String(), Type.Null()]),
    current: Type.Boolean({ description: 'the login making this request' }),
  },
  { title: 'SignedInDevice' },
);

const JwkSchema = Type.Object({
  kid: Type.String(),
  kty: Type.Literal('OKP'),
  crv: Type.Literal('Ed25519'),
  x: Type.String(),
  alg: Type.Literal('EdDSA'),
  use: Type.Literal('sig'),
});

export function registerSessionRoutes(app: App, sessions: SessionService, tokens: TokenService) {
  app.post(
    '/api/v1/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for new tokens (the old refresh token is spent)',
        description:
          'Refresh tokens are single-use. Presenting a spent one ends every session of its ' +
          'login (both the thief and the owner must sign in again) and answers 401. A login ' +
          'ends SESSION_ABSOLUTE_TTL_SECONDS (30 days) after sign-in however often it is ' +
          'refreshed. The answer is not cacheable (Cache-Control: no-store).',
        body: RefreshBody,
        response: { 200: TokenPairSchema, ...errorResponses(400, 401, 403, 423) },
      },
    },
    async (request, reply) => {
      const { token, viaCookie } = refreshTokenOf(request, request.body.refreshToken);
      try {
        return await sessions.refresh(token, {
          ip: request.ip,
          userAgent: request.headers['user-agent'],
        });
      } catch (error) {
        // A dead cookie is dropped, so the browser stops presenting it.
        if (viaCookie) clearRefreshCookie(reply);
        throw error;
      }
    },
  );

  app.post(
    '/api/v1/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: "End the refresh token's login: its access and refresh tokens stop working",
        body: RefreshBody,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { token } = refreshTokenOf(request, request.body.refreshToken);
      // The cookie goes whatever the outcome: after a logout the browser holds nothing.
      clearRefreshCookie(reply);
      await sessions.logout(token, { ip: request.ip });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/me/sessions/end-all',
    {
      onRequest: authenticate(tokens, OWN_SIGN_IN),
      schema: {
        tags: ['auth'],
        summary: 'Sign out everywhere: end every session of the signed-in user, this one too',
        security: Security,
        response: { 204: Type.Null(), ...errorResponses(401) },
      },
    },
    async (request, reply) => {
      await sessions.endAllSessions(principalOf(request).userId, { ip: request.ip });
      clearRefreshCookie(reply);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/me/sessions',
    {
      onRequest: authenticate(tokens, OWN_SIGN_IN),
      schema: {
        tags: ['auth'],
        summary: "Signed-in devices: the user's logins that can still be refreshed",
        description:
          'One entry per login (sign-in), newest use first: when it signed in, when its ' +
          'tokens were last refreshed (an open dashboard refreshes every access-token ' +
          'lifetime), a summary of the browser and system it reported, its address, and ' +
          '`current` for the login making this request. At most 100.',
        security: Security,
        response: {
          200: Type.Object({ data: Type.Array(DeviceSchema) }),
          ...errorResponses(401),
        },
      },
    },
    async (request) => ({ data: await sessions.listDevices(principalOf(request)) }),
  );

  app.delete(
    '/api/v1/me/sessions/:sessionId',
    {
      onRequest: authenticate(tokens, OWN_SIGN_IN),
      schema: {
        tags: ['auth'],
        summary: 'End one signed-in device: its access and refresh tokens stop working',
        description:
          "Audited (auth.session_ended). Another user's session, or one already ended, " +
          'answers 404 NOT_FOUND like an id that never existed. Ending the current one signs ' +
          'this client out.',
        security: Security,
        params: Type.Object({ sessionId: Type.String({ format: 'uuid' }) }),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await sessions.endDevice(principalOf(request), request.params.sessionId, {
        ip: request.ip,
      });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/me/sessions/end-others',
    {
      onRequest: authenticate(tokens, OWN_SIGN_IN),
      schema: {
        tags: ['auth'],
        summary: 'End every signed-in device except this one',
        description: 'Audited (auth.session_ended). The login making the request stays.',
        security: Security,
        response: { 204: Type.Null(), ...errorResponses(401) },
      },
    },
    async (request, reply) => {
      await sessions.endOtherDevices(principalOf(request), { ip: request.ip });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['auth'],
        summary: 'Public keys that verify access tokens (current and still-accepted previous)',
        response: { 200: Type.Object({ keys: Type.Array(JwkSchema) }) },
      },
    },
    async (_request, reply) => {
      // Verifiers may cache it briefly; a rotated key appears within five minutes.
      reply.header('cache-control', 'public, max-age=300');
      return tokens.jwks();
    },
  );
}
