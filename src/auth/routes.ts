import { Type } from 'typebox';
import { authenticate, OWN_SIGN_IN, principalOf } from '../http/auth-guard.ts';
import { errorResponses, MeSchema, Pin, Security, UserSchema } from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import { type AuthService, USERNAME_PATTERN } from './auth-service.ts';
import {
  DEVICE_COOKIE,
  DEVICE_COOKIE_MAX_AGE_SECONDS,
  DEVICE_COOKIE_PATH,
} from './device-cookie.ts';
import { OTP_PATTERN } from './mfa/crypto.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './passwords/policy.ts';
import type { TokenService } from './tokens.ts';

const Password = Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH });
/** Login accepts any password length up to the bound: policy is for new passwords only. */
const LoginPassword = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH });

const LoginResponse = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'seconds' }),
});

export function registerAuthRoutes(app: App, auth: AuthService, tokens: TokenService): void {
  app.post(
    '/api/v1/auth/register',
    {
      schema: {
        tags: ['auth'],
        summary: 'Register a customer',
        description:
          'A username already in use answers 409 USERNAME_TAKEN. An e-mail address already ' +
          'registered is not revealed: the answer is the same 201, no user is created, and ' +
          "the address's owner is told by mail.",
        body: Type.Object(
          {
            username: Type.String({ pattern: USERNAME_PATTERN }),
            password: Password,
            fullName: Type.String({
              minLength: 1,
              maxLength: 100,
              pattern: '^[^\\u0000-\\u001f\\u007f]+$',
            }),
            email: Type.String({ format: 'email', maxLength: 254 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: UserSchema, ...errorResponses(400, 409, 429) },
      },
    },
    async (request, reply) => {
      const user = await auth.register(request.body, { ip: request.ip });
      return reply.status(201).send(user);
    },
  );

  app.post(
    '/api/v1/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange username and password for tokens',
        description:
          'Wrong passwords slow further attempts per client and username and per username ' +
          '(429 with Retry-After). A successful login sets the device cookie ' +
          '`corebank_device` (HttpOnly, Secure, SameSite=Strict, Path=/api/v1/auth/login); ' +
          'presenting it later exempts this client from the per-username back-off that ' +
          'strangers can trigger, though not from its own. While only the per-username ' +
          'back-off holds a login, a right TOTP code in `otp` (for a user with MFA on) also ' +
          'lets it through to the password check; no code or a wrong one answers the same 429. ' +
          'Responses are not cacheable.',
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 64 }),
            password: LoginPassword,
            // A 6-digit TOTP code or a single-use recovery code.
            otp: Type.Optional(Type.String({ pattern: OTP_PATTERN })),
          },
          { additionalProperties: false },
        ),
        response: { 200: LoginResponse, ...errorResponses(400, 401, 423, 429) },
      },
    },
    async (request, reply) => {
      const { deviceToken, ...tokens } = await auth.login(request.body, {
        ip: request.ip,
        deviceToken: request.cookies[DEVICE_COOKIE],
        userAgent: request.headers['user-agent'],
      });
      // Evidence that this client signed in as this user (see device-cookie.ts).
      reply.setCookie(DEVICE_COOKIE, deviceToken, {
        httpOnly: true,
        secure: true,
        sameSite: 'strict',
        path: DEVICE_COOKIE_PATH,
        maxAge: DEVICE_COOKIE_MAX_AGE_SECONDS,
      });
      return tokens;
    },
  );

  const guard = authenticate(tokens, OWN_SIGN_IN);

  app.get(
    '/api/v1/me',
    {
      onRequest: guard,
      schema: {
        tags: ['auth'],
        summary: 'The signed-in user',
        description:
          '`pinAttemptsLeft` says how many wrong transaction PINs in a row the user may still ' +
          'enter before money movement and sign-in are locked (0 when locked).',
        security: Security,
        response: { 200: MeSchema, ...errorResponses(401) },
      },
    },
    async (request) => auth.me(principalOf(request)),
  );

  app.put(
    '/api/v1/me/pin',
    {
      onRequest: guard,
      schema: {
        tags: ['auth'],
        summary: 'Set or change the transaction PIN (needs the password)',
        description:
          'Common PINs (one digit repeated, runs such as 1234 or 4321, keypad lines such as ' +
          '2580, repeated pairs such as 1212) are refused with 400. A wrong password answers ' +
          '401 INVALID_CREDENTIALS, feeds the shared back-off (429) and counts toward the ' +
          'lock (423 after AUTH_MAX_FAILURES in a row).',
        security: Security,
        body: Type.Object({ password: LoginPassword, pin: Pin }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 423, 429) },
      },
    },
    async (request, reply) => {
      await auth.setPin(principalOf(request), request.body, { ip: request.ip });
      return reply.status(204).send(null);
    },
  );
}
