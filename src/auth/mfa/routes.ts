import { Type } from 'typebox';
import { authenticate, OWN_SIGN_IN, principalOf } from '../../http/auth-guard.ts';
import { errorResponses, Security } from '../../http/schemas.ts';
import type { App } from '../../http/types.ts';
import { PASSWORD_MAX_LENGTH } from '../passwords/policy.ts';
import type { TokenService } from '../tokens.ts';
import { OTP_PATTERN, RECOVERY_CODE_COUNT, TOTP_PATTERN } from './crypto.ts';
import type { MfaService } from './service.ts';

const Password = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH });

/** Self-service TOTP enrolment, confirmation and removal for the signed-in user. */
export function registerMfaRoutes(app: App, mfa: MfaService, tokens: TokenService): void {
  const guard = authenticate(tokens, OWN_SIGN_IN);

  app.post(
    '/api/v1/me/mfa/enrol',
    {
      onRequest: guard,
      schema: {
        tags: ['auth'],
        summary: 'Start TOTP enrolment (needs the password); pending until confirmed',
        description:
          'Wrong passwords and codes feed the shared back-off (429 with Retry-After), are ' +
          'audited and count toward the lock (423 USER_LOCKED after AUTH_MAX_FAILURES in a ' +
          'row). The answer is not cacheable (Cache-Control: no-store).',
        security: Security,
        body: Type.Object({ password: Password }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            secret: Type.String({ description: 'base32 shared secret' }),
            otpauthUri: Type.String({ description: 'otpauth://totp/… for a QR code' }),
          }),
          ...errorResponses(400, 401, 409, 423, 429),
        },
      },
    },
    async (request) => mfa.enrol(principalOf(request), request.body, { ip: request.ip }),
  );

  app.post(
    '/api/v1/me/mfa/confirm',
    {
      onRequest: guard,
      schema: {
        tags: ['auth'],
        summary: 'Confirm enrolment with a current code; returns recovery codes once',
        description:
          'Turning MFA on ends every other session of the user (this one stays). ' +
          'Wrong passwords and codes feed the shared back-off (429 with Retry-After), are ' +
          'audited and count toward the lock (423 USER_LOCKED after AUTH_MAX_FAILURES in a ' +
          'row). The answer is not cacheable (Cache-Control: no-store).',
        security: Security,
        body: Type.Object(
          { code: Type.String({ pattern: TOTP_PATTERN }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            recoveryCodes: Type.Array(Type.String(), {
              minItems: RECOVERY_CODE_COUNT,
              maxItems: RECOVERY_CODE_COUNT,
            }),
          }),
          ...errorResponses(400, 401, 409, 423, 429),
        },
      },
    },
    async (request) => mfa.confirm(principalOf(request), request.body, { ip: request.ip }),
  );

  app.post(
    '/api/v1/me/mfa/disable',
    {
      onRequest: guard,
      schema: {
        tags: ['auth'],
        summary: 'Turn TOTP off (needs the password and a current or recovery code)',
        description:
          'Wrong passwords and codes feed the shared back-off (429 with Retry-After), are ' +
          'audited and count toward the lock (423 USER_LOCKED after AUTH_MAX_FAILURES in a ' +
          'row). The answer is not cacheable (Cache-Control: no-store).',
        security: Security,
        body: Type.Object(
          { password: Password, code: Type.String({ pattern: OTP_PATTERN }) },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 409, 423, 429) },
      },
    },
    async (request, reply) => {
      await mfa.disable(principalOf(request), request.body, { ip: request.ip });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/me/mfa/recovery-codes',
    {
      onRequest: guard,
      schema: {
        tags: ['auth'],
        summary: 'Make new recovery codes (needs the password and a current app code)',
        description:
          'Returns a new set of recovery codes once; every earlier code stops working. A ' +
          'recovery code is not accepted as the code here. Audited ' +
          '(auth.mfa_recovery_codes_renewed). Wrong passwords and codes feed the shared ' +
          'back-off (429 with Retry-After), are audited and count toward the lock (423 ' +
          'USER_LOCKED after AUTH_MAX_FAILURES in a row). 409 MFA_NOT_ENABLED when two-step ' +
          'verification is off. The answer is not cacheable (Cache-Control: no-store).',
        security: Security,
        body: Type.Object(
          { password: Password, code: Type.String({ pattern: TOTP_PATTERN }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            recoveryCodes: Type.Array(Type.String(), {
              minItems: RECOVERY_CODE_COUNT,
              maxItems: RECOVERY_CODE_COUNT,
            }),
          }),
          ...errorResponses(400, 401, 409, 423, 429),
        },
      },
    },
    async (request) =>
      mfa.renewRecoveryCodes(principalOf(request), request.body, { ip: request.ip }),
  );
}
