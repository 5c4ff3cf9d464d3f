import assert from 'node:assert/strict';
import crypto, { type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import {
  createTestApp,
  DEFAULT_PASSWORD,
  ENGINES,
  type Response,
  type TestApp,
} from './support/harness.ts';

/**
 * The public auth API (contract v1, "Auth"): registration, login, /me, bearer-token
 * verification (including forged tokens) and setting the transaction PIN, on every engine.
 */

interface UserBody {
  id: string;
  username: string;
  fullName: string;
  email: string;
  roles: string[];
  pinSet: boolean;
  mfaEnabled: boolean;
  locked: boolean;
  createdAt: string;
}

interface LoginBody {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}

/** Asserts an RFC 9457 problem document with the given status, code and (optionally) field. */
function assertProblem<T>(
  response: Response<T>,
  status: number,
  code: string,
  field?: string,
): Record<string, unknown> {
  const context = JSON.stringify(response.body);
  assert.equal(response.status, status, context);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/, context);
  const body = response.body as Record<string, unknown>;
  assert.equal(body.code, code, context);
  assert.equal(body.status, status, context);
  assert.equal(typeof body.type, 'string', context);
  assert.equal(typeof body.title, 'string', context);
  assert.equal(typeof body.detail, 'string', context);
  if (field !== undefined) assert.equal(body.field, field, context);
  return body;
}

/** 401 UNAUTHENTICATED with the challenge header RFC 6750 asks for. */
function assertUnauthenticated<T>(response: Response<T>): Record<string, unknown> {
  const body = assertProblem(response, 401, 'UNAUTHENTICATED');
  assert.match(String(response.headers['www-authenticate']), /^Bearer/);
  return body;
}

function withoutInstance(body: Record<string, unknown>): Record<string, unknown> {
  const { instance: _instance, ...rest } = body;
  return rest;
}

/** No credential material of any kind may appear in a user document. */
function assertNoSecrets(body: unknown, password: string): void {
  const text = JSON.stringify(body);
  assert.ok(!text.includes(password), 'the password is echoed back');
  assert.ok(!text.includes('$argon2'), 'a password hash is in the body');
  assert.ok(!/password|hash/i.test(text), `a password or hash field is in the body: ${text}`);
}

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

for (const engine of ENGINES) {
  describe(`auth API [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    function register(body: Record<string, unknown>) {
      return t.request<UserBody>('POST', '/api/v1/auth/register', { body });
    }

    function login(body: Record<string, unknown>) {
      return t.request<LoginBody>('POST', '/api/v1/auth/login', { body });
    }

    function me(token: string) {
      return t.request<UserBody>('GET', '/api/v1/me', { token });
    }

    function newUserBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
      const username = t.uniqueName('reg');
      return {
        username,
        password: DEFAULT_PASSWORD,
        fullName: 'Ada Lovelace',
        email: `${username}@example.com`,
        ...overrides,
      };
    }

    async function usersNamed(username: string): Promise<number> {
      const rows = await t.runtime.database.db
        .selectFrom('users')
        .select('id')
        .where('username', '=', username.toLowerCase())
        .execute();
      return rows.length;
    }

    async function userCount(): Promise<number> {
      const rows = await t.runtime.database.db.selectFrom('users').select('id').execute();
      return rows.length;
    }

    describe('register', () => {
      it('creates a customer and answers 201 with the user, never with credentials', async () => {
        const suffix = crypto.randomBytes(3).toString('hex');
        const body = {
          username: `Ada.Lovelace_${suffix}`,
          password: DEFAULT_PASSWORD,
          fullName: 'Ada Lovelace',
          email: `ada_${suffix}@example.com`,
        };
        const response = await register(body);
        assert.equal(response.status, 201, JSON.stringify(response.body));
        const user = response.body;
        assert.match(user.id, /^[0-9a-f-]{36}$/);
        assert.equal(user.username, `ada.lovelace_${suffix}`);
        assert.equal(user.fullName, 'Ada Lovelace');
        assert.equal(user.email, `ada_${suffix}@example.com`);
        assert.deepEqual(user.roles, ['customer']);
        assert.equal(user.pinSet, false);
        assert.equal(user.mfaEnabled, false);
        assert.equal(user.locked, false);
        assert.equal(new Date(user.createdAt).toISOString(), user.createdAt);
        assertNoSecrets(user, DEFAULT_PASSWORD);

        // The lower-cased name is the one that logs in, whatever case the client uses.
        const token = await t.login(body.username.toUpperCase(), DEFAULT_PASSWORD);
        const self = await me(token);
        assert.equal(self.status, 200);
        assert.equal(self.body.id, user.id);
      });

      it('accepts passwords of exactly 12 and exactly 128 characters', async () => {
        // Non-repetitive texts: repeated characters are refused by the password policy.
        const long = 'pale blue dot, seen from six billion kilometres; ';
        for (const password of ['kettle-moss-', long.repeat(3).slice(0, 128)]) {
          const body = newUserBody({ password });
          const response = await register(body);
          assert.equal(
            response.status,
            201,
            `${password.length}: ${JSON.stringify(response.body)}`,
          );
          await t.login(String(body.username), password);
        }
      });

      const invalid: ReadonlyArray<{
        name: string;
        change: (body: Record<string, unknown>) => Record<string, unknown>;
        field: string;
      }> = [
        {
          name: 'an 11-character password',
          change: (b) => ({ ...b, password: 'a'.repeat(11) }),
          field: 'password',
        },
        {
          name: 'a 129-character password',
          change: (b) => ({ ...b, password: 'a'.repeat(129) }),
          field: 'password',
        },
        {
          name: 'a username with a space',
          change: (b) => ({ ...b, username: `bad user${t.uniqueName('')}` }),
          field: 'username',
        },
        {
          name: 'a username with an @',
          change: (b) => ({ ...b, username: `bad@${t.uniqueName('')}` }),
          field: 'username',
        },
        {
          name: 'a username with a non-ASCII letter',
          change: (b) => ({ ...b, username: `jos\u00e9${t.uniqueName('')}` }),
          field: 'username',
        },
        {
          name: 'a 2-character username',
          change: (b) => ({ ...b, username: 'ab' }),
          field: 'username',
        },
        {
          name: 'a 33-character username',
          change: (b) => ({ ...b, username: 'u'.repeat(33) }),
          field: 'username',
        },
        {
          name: 'an email without @',
          change: (b) => ({ ...b, email: 'not-an-email.example.com' }),
          field: 'email',
        },
        {
          name: 'an email without a domain',
          change: (b) => ({ ...b, email: 'someone@' }),
          field: 'email',
        },
        {
          name: 'a missing username',
          change: ({ username: _u, ...b }) => b,
          field: 'username',
        },
        {
          name: 'a missing password',
          change: ({ password: _p, ...b }) => b,
          field: 'password',
        },
        {
          name: 'a missing fullName',
          change: ({ fullName: _f, ...b }) => b,
          field: 'fullName',
        },
        { name: 'a missing email', change: ({ email: _e, ...b }) => b, field: 'email' },
        { name: 'an empty fullName', change: (b) => ({ ...b, fullName: '' }), field: 'fullName' },
        { name: 'a blank fullName', change: (b) => ({ ...b, fullName: '   ' }), field: 'fullName' },
        {
          name: 'a fullName with a control character',
          change: (b) => ({ ...b, fullName: 'Ada\nLovelace' }),
          field: 'fullName',
        },
        {
          name: 'a password sent as a number',
          change: (b) => ({ ...b, password: 123456789012345 }),
          field: 'password',
        },
        {
          name: 'an unknown extra field roles: ["admin"]',
          change: (b) => ({ ...b, roles: ['admin'] }),
          field: 'roles',
        },
      ];

      for (const c of invalid) {
        it(`refuses ${c.name} with 400 field ${c.field} and creates no user`, async () => {
          const valid = newUserBody();
          const before = await userCount();
          const response = await register(c.change(valid));
          assertProblem(response, 400, 'VALIDATION_FAILED', c.field);
          assert.equal(await userCount(), before);
          assert.equal(await usersNamed(String(valid.username)), 0);
        });
      }

      it('refuses a body that asks for roles, and the same person can then register as a plain customer', async () => {
        const body = newUserBody();
        const refused = await register({ ...body, roles: ['admin'] });
        assertProblem(refused, 400, 'VALIDATION_FAILED', 'roles');
        const noLogin = await login({ username: body.username, password: body.password });
        assertProblem(noLogin, 401, 'INVALID_CREDENTIALS');
        const roleRows = await t.runtime.database.db
          .selectFrom('user_roles')
          .select('user_id')
          .where('role', '=', 'admin')
          .execute();
        assert.equal(roleRows.length, 0);

        const accepted = await register(body);
        assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
        assert.deepEqual(accepted.body.roles, ['customer']);
      });

      it('refuses a taken username with 409 USERNAME_TAKEN, whatever its case', async () => {
        const first = newUserBody();
        assert.equal((await register(first)).status, 201);
        const count = await userCount();
        for (const username of [first.username, String(first.username).toUpperCase()]) {
          const again = await register(newUserBody({ username }));
          assertProblem(again, 409, 'USERNAME_TAKEN', 'username');
        }
        assert.equal(await userCount(), count);
      });

      it('a registered email answers 201 like a new one, creates no user and mails its owner', async () => {
        const first = newUserBody();
        assert.equal((await register(first)).status, 201);
        const count = await userCount();
        for (const email of [first.email, String(first.email).toUpperCase()]) {
          const body = newUserBody({ email });
          const again = await register(body);
          // No EMAIL_TAKEN: the answer does not reveal that the address is registered.
          assert.equal(again.status, 201, JSON.stringify(again.body));
          assert.equal((again.body as { username: string }).username, body.username);
          // Nobody can sign in as the would-be user.
          const login = await t.request('POST', '/api/v1/auth/login', {
            body: { username: body.username, password: body.password },
          });
          assert.equal(login.status, 401);
        }
        assert.equal(await userCount(), count);
        const mails = await t.runtime.database.db
          .selectFrom('email_outbox')
          .select(['recipient', 'subject'])
          .where('recipient', '=', String(first.email).toLowerCase())
          .execute();
        assert.equal(mails.length, 2, 'the owner is told about each attempt');
        assert.match(mails[0]?.subject ?? '', /tried to register/);
      });
    });

    describe('login', () => {
      it('answers 200 with bearer tokens that open /me', async () => {
        const body = newUserBody();
        const created = await register(body);
        assert.equal(created.status, 201);
        const response = await login({ username: body.username, password: body.password });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.deepEqual(Object.keys(response.body).sort(), [
          'accessToken',
          'expiresIn',
          'refreshToken',
          'tokenType',
        ]);
        assert.equal(response.body.tokenType, 'Bearer');
        assert.equal(response.body.expiresIn, 900);
        assert.match(response.body.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
        assert.equal(typeof response.body.refreshToken, 'string');
        assert.ok(response.body.refreshToken.length >= 32);
        assert.notEqual(response.body.refreshToken, response.body.accessToken);

        const self = await me(response.body.accessToken);
        assert.equal(self.status, 200);
        assert.equal(self.body.id, created.body.id);
      });

      it('answers a wrong password and an unknown user identically (401 INVALID_CREDENTIALS)', async () => {
        const body = newUserBody();
        assert.equal((await register(body)).status, 201);
        const wrongPassword = await login({
          username: body.username,
          password: 'not the right password',
        });
        const unknownUser = await login({
          username: t.uniqueName('ghost'),
          password: 'not the right password',
        });
        const wrongPasswordBody = assertProblem(wrongPassword, 401, 'INVALID_CREDENTIALS');
        const unknownUserBody = assertProblem(unknownUser, 401, 'INVALID_CREDENTIALS');
        assert.deepEqual(withoutInstance(wrongPasswordBody), withoutInstance(unknownUserBody));
        assert.equal(wrongPassword.headers['content-type'], unknownUser.headers['content-type']);
      });

      it('refuses a missing or empty password with 400 field password', async () => {
        const body = newUserBody();
        assert.equal((await register(body)).status, 201);
        assertProblem(
          await login({ username: body.username }),
          400,
          'VALIDATION_FAILED',
          'password',
        );
        assertProblem(
          await login({ username: body.username, password: '' }),
          400,
          'VALIDATION_FAILED',
          'password',
        );
      });
    });

    describe('/me and bearer tokens', () => {
      it('returns the signed-in user with a token', async () => {
        const user = await t.customer({ pin: null });
        const response = await me(user.token);
        assert.equal(response.status, 200);
        assert.equal(response.body.id, user.id);
        assert.equal(response.body.username, user.username);
        assert.equal(response.body.email, `${user.username}@example.com`);
        assert.deepEqual(response.body.roles, ['customer']);
        assert.equal(response.body.pinSet, false);
        assert.equal(response.body.mfaEnabled, false);
        assert.equal(response.body.locked, false);
        assertNoSecrets(response.body, user.password);
      });

      it('answers 401 UNAUTHENTICATED with a challenge without a token', async () => {
        assertUnauthenticated(await t.request('GET', '/api/v1/me'));
      });

      it('answers 401 UNAUTHENTICATED with a challenge for malformed Authorization headers', async () => {
        const user = await t.customer({ pin: null });
        const headers = [
          user.token,
          `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`,
          'garbage',
          'Bearer',
          'Bearer ',
          'Bearer not-a-jwt',
          'Bearer a.b.c',
          `Bearer ${user.token}.extra`,
          `Bearer  ${user.token}`,
          `Token ${user.token}`,
        ];
        for (const authorization of headers) {
          const response = await t.request('GET', '/api/v1/me', { headers: { authorization } });
          assert.equal(response.status, 401, authorization);
          assertUnauthenticated(response);
        }
        // The same token in a well-formed header is accepted, so the header form was at fault.
        assert.equal((await me(user.token)).status, 200);
      });

      describe('forged and invalid tokens', () => {
        let alice: { id: string; token: string };
        let bob: { id: string; token: string };
        /** What a request without a usable bearer header is told. */
        let headerProblemDetail: unknown;

        before(async () => {
          alice = await t.customer({ pin: null });
          bob = await t.customer({ pin: null });
          headerProblemDetail = assertUnauthenticated(await t.request('GET', '/api/v1/me')).detail;
        });

        /**
         * A forged token must be refused by the token verifier, not by the header parser:
         * otherwise the test would pass without ever exercising signature or claim checks.
         */
        async function assertRefusedByVerifier(token: string): Promise<void> {
          const body = assertUnauthenticated(await me(token));
          assert.notEqual(body.detail, headerProblemDetail, 'refused before verification');
        }

        /**
         * Bob's real session id. Every forged token names a live session of its subject, so
         * that it is refused for the one reason the test states and for nothing else.
         */
        function bobSid(): string {
          const payload = JSON.parse(
            Buffer.from(String(bob.token.split('.')[1]), 'base64url').toString('utf8'),
          ) as { sid: string };
          return payload.sid;
        }

        interface Forgery {
          sub?: string;
          key?: KeyObject;
          kid?: string;
          issuer?: string;
          audience?: string;
          typ?: string;
          iat?: number;
          exp?: number;
        }

        /** Signs an access token; with no options, exactly the way the server signs one. */
        function sign(options: Forgery = {}): Promise<string> {
          const { secrets, config } = t.runtime;
          const now = Math.floor(Date.now() / 1000);
          return new SignJWT({ sid: bobSid(), roles: ['customer'] })
            .setProtectedHeader({
              alg: 'EdDSA',
              kid: options.kid ?? secrets.signingKey.kid,
              typ: options.typ ?? 'at+jwt',
            })
            .setIssuer(options.issuer ?? config.jwtIssuer)
            .setAudience(options.audience ?? config.jwtAudience)
            .setSubject(options.sub ?? bob.id)
            .setIssuedAt(options.iat ?? now)
            .setExpirationTime(options.exp ?? now + 600)
            .setJti(crypto.randomUUID())
            .sign(options.key ?? secrets.signingKey.privateKey);
        }

        function claims(sub: string): Record<string, unknown> {
          const now = Math.floor(Date.now() / 1000);
          return {
            sub,
            sid: bobSid(),
            roles: ['customer'],
            iss: t.runtime.config.jwtIssuer,
            aud: t.runtime.config.jwtAudience,
            iat: now,
            exp: now + 600,
          };
        }

        it('accepts a token signed with the real key and correct claims (positive control)', async () => {
          const response = await me(await sign());
          assert.equal(response.status, 200, JSON.stringify(response.body));
          assert.equal(response.body.id, bob.id);
        });

        it('refuses an alg "none" token, with or without a signature segment', async () => {
          const header = base64urlJson({
            alg: 'none',
            typ: 'at+jwt',
            kid: t.runtime.secrets.signingKey.kid,
          });
          const payload = base64urlJson(claims(bob.id));
          const realSignature = alice.token.split('.')[2] ?? '';
          // Without a signature segment the header parser already refuses it.
          assertUnauthenticated(await me(`${header}.${payload}.`));
          // With one, it reaches the verifier, which accepts only EdDSA.
          await assertRefusedByVerifier(`${header}.${payload}.${realSignature}`);
        });

        it('refuses a token signed by a different Ed25519 key under the real kid', async () => {
          const { privateKey } = crypto.generateKeyPairSync('ed25519');
          await assertRefusedByVerifier(await sign({ key: privateKey }));
        });

        it('refuses an HS256 token keyed with the public key (algorithm confusion)', async () => {
          const publicPem = t.runtime.secrets.signingKey.publicKey.export({
            type: 'spki',
            format: 'pem',
          });
          const now = Math.floor(Date.now() / 1000);
          const token = await new SignJWT({ sid: bobSid(), roles: ['customer'] })
            .setProtectedHeader({
              alg: 'HS256',
              kid: t.runtime.secrets.signingKey.kid,
              typ: 'at+jwt',
            })
            .setIssuer(t.runtime.config.jwtIssuer)
            .setAudience(t.runtime.config.jwtAudience)
            .setSubject(bob.id)
            .setIssuedAt(now)
            .setExpirationTime(now + 600)
            .sign(crypto.createSecretKey(Buffer.from(publicPem)));
          await assertRefusedByVerifier(token);
        });

        it('refuses a wrong issuer', async () => {
          await assertRefusedByVerifier(await sign({ issuer: 'https://evil.example' }));
        });

        it('refuses a wrong audience', async () => {
          await assertRefusedByVerifier(await sign({ audience: 'some-other-api' }));
        });

        it('refuses a token of another type than at+jwt', async () => {
          await assertRefusedByVerifier(await sign({ typ: 'JWT' }));
        });

        it('refuses an expired token', async () => {
          const now = Math.floor(Date.now() / 1000);
          await assertRefusedByVerifier(await sign({ iat: now - 3600, exp: now - 60 }));
        });

        it('refuses a token whose payload was changed to another user, keeping the signature', async () => {
          const [header, payload, signature] = alice.token.split('.');
          assert.ok(header && payload && signature);
          const original = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
            sub: string;
          };
          assert.equal(original.sub, alice.id);
          // Bob's id and Bob's session: only the signature no longer matches the payload.
          const tampered = base64urlJson({ ...original, sub: bob.id, sid: bobSid() });
          await assertRefusedByVerifier(`${header}.${tampered}.${signature}`);
          // Untouched, the same token still works, and it is Alice's.
          const untouched = await me(alice.token);
          assert.equal(untouched.status, 200);
          assert.equal(untouched.body.id, alice.id);
        });

        it('refuses a well-signed token naming no live session of its subject', async () => {
          const forge = (sid: string) => {
            const now = Math.floor(Date.now() / 1000);
            return new SignJWT({ sid, roles: ['customer'] })
              .setProtectedHeader({
                alg: 'EdDSA',
                kid: t.runtime.secrets.signingKey.kid,
                typ: 'at+jwt',
              })
              .setIssuer(t.runtime.config.jwtIssuer)
              .setAudience(t.runtime.config.jwtAudience)
              .setSubject(bob.id)
              .setIssuedAt(now)
              .setExpirationTime(now + 600)
              .sign(t.runtime.secrets.signingKey.privateKey);
          };
          const aliceSid = (
            JSON.parse(
              Buffer.from(String(alice.token.split('.')[1]), 'base64url').toString('utf8'),
            ) as { sid: string }
          ).sid;
          await assertRefusedByVerifier(await forge(crypto.randomUUID()));
          await assertRefusedByVerifier(await forge(aliceSid));
          // Bob's own session in the same token is accepted.
          assert.equal((await me(await forge(bobSid()))).status, 200);
        });

        it('refuses an unknown or missing kid, even with the real key', async () => {
          await assertRefusedByVerifier(await sign({ kid: 'no-such-key' }));
          const now = Math.floor(Date.now() / 1000);
          const noKid = await new SignJWT({ sid: bobSid(), roles: ['customer'] })
            .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
            .setIssuer(t.runtime.config.jwtIssuer)
            .setAudience(t.runtime.config.jwtAudience)
            .setSubject(bob.id)
            .setIssuedAt(now)
            .setExpirationTime(now + 600)
            .sign(t.runtime.secrets.signingKey.privateKey);
          await assertRefusedByVerifier(noKid);
        });
      });
    });

    describe('PUT /me/pin', () => {
      function setPin(token: string, body: Record<string, unknown>) {
        return t.request('PUT', '/api/v1/me/pin', { token, body });
      }

      async function pinSet(token: string): Promise<boolean> {
        const response = await me(token);
        assert.equal(response.status, 200);
        return response.body.pinSet;
      }

      it('needs the password: a wrong one answers 401 INVALID_CREDENTIALS field password', async () => {
        const user = await t.customer({ pin: null });
        const response = await setPin(user.token, { password: 'wrong password!', pin: '8351' });
        assertProblem(response, 401, 'INVALID_CREDENTIALS', 'password');
        assert.equal(await pinSet(user.token), false);
      });

      it('needs a token', async () => {
        assertUnauthenticated(
          await t.request('PUT', '/api/v1/me/pin', {
            body: { password: DEFAULT_PASSWORD, pin: '8351' },
          }),
        );
      });

      const badPins: ReadonlyArray<[string, unknown]> = [
        ['3 digits', '123'],
        ['7 digits', '1234567'],
        ['letters', 'abcd'],
        ['digits and a letter', '12a4'],
        ['a number', 1234],
        ['an empty string', ''],
        ['a padded string', ' 1234'],
        ['non-ASCII digits', '\u0661\u0662\u0663\u0664'],
      ];
      for (const [name, pin] of badPins) {
        it(`refuses a PIN of ${name} with 400 field pin`, async () => {
          const user = await t.customer({ pin: null });
          const response = await setPin(user.token, { password: user.password, pin });
          assertProblem(response, 400, 'VALIDATION_FAILED', 'pin');
          assert.equal(await pinSet(user.token), false);
        });
      }

      it('refuses a missing PIN with 400 field pin', async () => {
        const user = await t.customer({ pin: null });
        assertProblem(
          await setPin(user.token, { password: user.password }),
          400,
          'VALIDATION_FAILED',
          'pin',
        );
        assert.equal(await pinSet(user.token), false);
      });

      // Common PINs (0000, runs) are refused since issue #10: see security-hardening.test.ts.
      for (const pin of ['8351', '52947', '730196']) {
        it(`sets a ${pin.length}-digit PIN: 204, then /me shows pinSet and the PIN moves money`, async () => {
          const user = await t.customer({ pin: null });
          assert.equal(await pinSet(user.token), false);
          const response = await setPin(user.token, { password: user.password, pin });
          assert.equal(response.status, 204, JSON.stringify(response.body));
          assert.equal(response.body, '');
          assert.equal(await pinSet(user.token), true);

          const { accountNumber } = await t.openAccount(user);
          assert.equal((await t.deposit(user, accountNumber, '10.00')).status, 201);
          const withdrawal = await t.withdraw(user, accountNumber, '1.00', { pin });
          assert.equal(withdrawal.status, 201, JSON.stringify(withdrawal.body));
        });
      }

      it('changes the PIN: afterwards the old PIN is wrong and the new one works', async () => {
        const user = await t.customer();
        const { accountNumber } = await t.openAccount(user);
        assert.equal((await t.deposit(user, accountNumber, '10.00')).status, 201);
        const response = await setPin(user.token, { password: user.password, pin: '135790' });
        assert.equal(response.status, 204);
        assertProblem(await t.withdraw(user, accountNumber, '1.00'), 403, 'INVALID_PIN', 'pin');
        const ok = await t.withdraw(user, accountNumber, '1.00', { pin: '135790' });
        assert.equal(ok.status, 201, JSON.stringify(ok.body));
        assert.equal(await t.balance(user, accountNumber), '9.00');
      });
    });
  });
}
