import { Type } from 'typebox';
import { authenticate, OWN_SIGN_IN, principalOf } from '../../http/auth-guard.ts';
import { errorResponses, Security } from '../../http/schemas.ts';
import type { App } from '../../http/types.ts';
import type { TokenService } from '../tokens.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './policy.ts';
import type { PasswordService } from './service.ts';

const NewPassword = Type.String({
  minLength: PASSWORD_MIN_LENGTH,
  maxLength: PASSWORD_MAX_LENGTH,
  description:
    '12 to 128 characters, anything allowed; common, repetitive or sequential passwords and ' +
    'ones containing the username are refused',
});
const CurrentPassword = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH });

export function registerPasswordRoutes(app: App, passwords: PasswordService, tokens: TokenService) {
  app.post(
    '/api/v1/me/password',
    {
      onRequest: authenticate(tokens, OWN_SIGN_IN),
      schema: {
        tags: ['auth'],
        summary: 'Change the password (needs the current one); ends every other session',
        description:
          'A wrong current password answers 401 INVALID_CREDENTIALS, feeds the shared ' +
          'back-off (429) and counts toward the lock (423 after AUTH_MAX_FAILURES in a row).',
        security: Security,
        body: Type.Object(
          { currentPassword: CurrentPassword, newPassword: NewPassword },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 423, 429) },
      },
    },
    async (request, reply) => {
      await passwords.changePassword(principalOf(request), request.body, { ip: request.ip });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/auth/password-reset/request',
    {
      schema: {
        tags: ['auth'],
        summary: 'E-mail a single-use reset token (202 whether or not the address is known)',
        description:
          'At most 3 unexpired tokens per user (a burst of requests cannot flood a mailbox) ' +
          'and RATE_LIMIT_PASSWORD_RESET_PER_MINUTE requests per client.',
        body: Type.Object(
          { email: Type.String({ format: 'email', maxLength: 254 }) },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({ status: Type.Literal('accepted'), message: Type.String() }),
          ...errorResponses(400, 429),
        },
      },
    },
    async (request, reply) => {
      await passwords.requestReset(request.body.email, { ip: request.ip });
      // One fixed body for every address: the answer must not say whether it exists.
      return reply.status(202).send({
        status: 'accepted' as const,
        message: 'If that address belongs to a user, a reset token is on its way.',
      });
    },
  );

  app.post(
    '/api/v1/auth/password-reset/confirm',
    {
      schema: {
        tags: ['auth'],
        summary: 'Set a new password with a reset token; ends every session of the user',
        body: Type.Object(
          {
            token: Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_-]+$' }),
            newPassword: NewPassword,
          },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...errorResponses(400) },
      },
    },
    async (request, reply) => {
      await passwords.confirmReset(request.body, { ip: request.ip });
      return reply.status(204).send(null);
    },
  );
}
