import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { CredentialGuard } from '../src/auth/credential-guard.ts';
import { LoginBackoff, MemoryBackoffStore } from '../src/auth/login-backoff.ts';
import { deriveMfaKeys } from '../src/auth/mfa/crypto.ts';
import { MfaService } from '../src/auth/mfa/service.ts';
import { CorebankError } from '../src/errors.ts';
import {
  createTestApp,
  DEFAULT_PASSWORD,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';

/**
 * TOTP multi-factor authentication (RFC 6238) on every engine: enrolment, confirmation,
 * login with a code or a recovery code, replay refusal, disabling, the staff check other
 * features call, and storage that does not reveal secrets.
 */

const PERIOD_MS = 30_000;

function assertProblem<T>(response: Response<T>, status: number, code: string): void {
  const context = JSON.stringify(response.body);
  assert.equal(response.status, status, context);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/, context);
  assert.equal((response.body as Record<string, unknown>).code, code, context);
}

/** The code an authenticator shows `steps` periods from now. */
function codeAt(secret: string, steps: number, now = Date.now()): string {
  return TOTP.generate({
    secret: Secret.fromBase32(secret),
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
    timestamp: now + steps * PERIOD_MS,
  });
}

/**
 * Tests use codes of the previous, current and next step. Near a step boundary a code
 * could slide out of the window between generating and checking it, so wait for a fresh
 * step when fewer than three seconds are left.
 */
async function awayFromStepBoundary(): Promise<void> {
  const left = PERIOD_MS - (Date.now() % PERIOD_MS);
  if (left < 3000) await new Promise((resolve) => setTimeout(resolve, left + 50));
}

/** A wrong code that is not accidentally valid anywhere in the window. */
function wrongCode(secret: string): string {
  const valid = new Set([-1, 0, 1].map((step) => codeAt(secret, step)));
  for (let n = 0; ; n++) {
    const candidate = String(n).padStart(6, '0');
    if (!valid.has(candidate)) return candidate;
  }
}

for (const engine of ENGINES) {
  describe(`MFA [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    function login(user: TestUser, extra: Record<string, string> = {}) {
      return t.request<{ accessToken: string }>('POST', '/api/v1/auth/login', {
        body: { username: user.username, password: user.password, ...extra },
      });
    }

    async function mfaEnabled(user: TestUser): Promise<boolean> {
      const me = await t.request<{ mfaEnabled: boolean }>('GET', '/api/v1/me', {
        token: user.token,
      });
      assert.equal(me.status, 200);
      return me.body.mfaEnabled;
    }

    async function enrol(user: TestUser): Promise<string> {
      const response = await t.request<{ secret: string; otpauthUri: string }>(
        'POST',
        '/api/v1/me/mfa/enrol',
        { token: user.token, body: { password: user.password } },
      );
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.secret;
    }

    /** Enrols and confirms with the previous step's code, leaving the current and next steps usable. */
    async function enableMfa(user: TestUser): Promise<{ secret: string; recoveryCodes: string[] }> {
      await awayFromStepBoundary();
      const secret = await enrol(user);
      const confirm = await t.request<{ recoveryCodes: string[] }>(
        'POST',
        '/api/v1/me/mfa/confirm',
        { token: user.token, body: { code: codeAt(secret, -1) } },
      );
      assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
      return { secret, recoveryCodes: confirm.body.recoveryCodes };
    }

    async function auditActions(userId: string): Promise<string[]> {
      const rows = await t.runtime.database.db
        .selectFrom('audit_events')
        .select('action')
        .where('actor_user_id', '=', userId)
        .orderBy('id')
        .execute();
      return rows.map((row) => row.action);
    }

    it('enrolment needs the password and stays pending until a code confirms it', async () => {
      const user = await t.customer();
      assertProblem(
        await t.request('POST', '/api/v1/me/mfa/enrol', {
          token: user.token,
          body: { password: 'not the password at all' },
        }),
        401,
        'INVALID_CREDENTIALS',
      );
      assertProblem(
        await t.request('POST', '/api/v1/me/mfa/enrol', { body: { password: user.password } }),
        401,
        'UNAUTHENTICATED',
      );
      const response = await t.request<{ secret: string; otpauthUri: string }>(
        'POST',
        '/api/v1/me/mfa/enrol',
        { token: user.token, body: { password: user.password } },
      );
      assert.equal(response.status, 200);
      assert.match(response.body.secret, /^[A-Z2-7]{32}$/, '160-bit base32 secret');
      const uri = new URL(response.body.otpauthUri);
      assert.equal(uri.protocol, 'otpauth:');
      assert.equal(uri.host, 'totp');
      assert.equal(uri.searchParams.get('secret'), response.body.secret);
      assert.equal(uri.searchParams.get('algorithm'), 'SHA1');
      assert.equal(uri.searchParams.get('digits'), '6');
      assert.equal(uri.searchParams.get('period'), '30');
      assert.equal(uri.searchParams.get('issuer'), 'Corebank');
      // Pending: not enabled, and login still needs no code.
      assert.equal(await mfaEnabled(user), false);
      assert.equal((await login(user)).status, 200);
    });

    it('a wrong code does not confirm; the right one returns ten recovery codes once', async () => {
      const user = await t.customer();
      assertProblem(
        await t.request('POST', '/api/v1/me/mfa/confirm', {
          token: user.token,
          body: { code: '123456' },
        }),
        409,
        'MFA_NOT_ENABLED',
      );
      await awayFromStepBoundary();
      const secret = await enrol(user);
      assertProblem(
        await t.request('POST', '/api/v1/me/mfa/confirm', {
          token: user.token,
          body: { code: wrongCode(secret) },
        }),
        401,
        'INVALID_OTP',
      );
      assert.equal(await mfaEnabled(user), false);
      const confirm = await t.request<{ recoveryCodes: string[] }>(
        'POST',
        '/api/v1/me/mfa/confirm',
        { token: user.token, body: { code: codeAt(secret, 0) } },
      );
      assert.equal(confirm.status, 200);
      const codes = confirm.body.recoveryCodes;
      assert.equal(codes.length, 10);
      assert.equal(new Set(codes).size, 10);
      for (const code of codes) assert.match(code, /^[A-Z2-7]{5}-[A-Z2-7]{5}$/);
      assert.equal(await mfaEnabled(user), true);
      assert.ok((await auditActions(user.id)).includes('auth.mfa_enabled'));
      // Confirming again (or re-enrolling) cannot replace an enabled factor.
      assertProblem(
        await t.request('POST', '/api/v1/me/mfa/confirm', {
          token: user.token,
          body: { code: codeAt(secret, 1) },
        }),
        409,
        'MFA_ALREADY_ENABLED',
      );
      assertProblem(
        await t.request('POST', '/api/v1/me/mfa/enrol', {
          token: user.token,
          body: { password: user.password },
        }),
        409,
        'MFA_ALREADY_ENABLED',
      );
    });

    it('the database alone reveals neither the TOTP secret nor the recovery codes', async () => {
      const user = await t.customer();
      const { secret, recoveryCodes } = await enableMfa(user);
      const db = t.runtime.database.db;
      const row = await db
        .selectFrom('user_mfa')
        .selectAll()
        .where('user_id', '=', user.id)
        .executeTakeFirstOrThrow();
      assert.ok(!row.secret_ciphertext.includes(secret), 'the secret is stored in clear');
      assert.ok(
        !Buffer.from(row.secret_ciphertext.split('.')[2] ?? '', 'base64url')
          .toString('latin1')
          .includes(secret),
      );
      assert.match(row.secret_ciphertext, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
      const hashes = await db
        .selectFrom('mfa_recovery_codes')
        .select('code_hash')
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(hashes.length, 10);
      const stored = JSON.stringify(hashes);
      for (const code of recoveryCodes) {
        assert.ok(!stored.includes(code) && !stored.includes(code.replace('-', '')));
      }
      // A ciphertext moved onto another user's row does not decrypt (user id is bound in).
      const other = await t.customer();
      const otherSecret = await enrol(other);
      await db
        .updateTable('user_mfa')
        .set({ secret_ciphertext: row.secret_ciphertext })
        .where('user_id', '=', other.id)
        .execute();
      const moved = await t.request('POST', '/api/v1/me/mfa/confirm', {
        token: other.token,
        body: { code: codeAt(secret, 0) },
      });
      assert.equal(moved.status, 500);
      assert.ok(otherSecret.length > 0);
    });

    it('login asks for the code only after the right password', async () => {
      const user = await t.customer();
      const { secret } = await enableMfa(user);
      // Without the password, an MFA user looks like any other: the same 401. (Two tries
      // plus one wrong code stay within the login back-off's free failures.)
      for (const extra of [{}, { otp: codeAt(secret, 0) }]) {
        assertProblem(
          await t.request('POST', '/api/v1/auth/login', {
            body: { username: user.username, password: 'wrong password here', ...extra },
          }),
          401,
          'INVALID_CREDENTIALS',
        );
      }
      assertProblem(await login(user), 401, 'MFA_REQUIRED');
      assertProblem(await login(user, { otp: wrongCode(secret) }), 401, 'INVALID_OTP');
      const ok = await login(user, { otp: codeAt(secret, 0) });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(typeof ok.body.accessToken, 'string');
    });

    it('the same TOTP code is refused the second time, and older codes after it', async () => {
      const user = await t.customer();
      const { secret } = await enableMfa(user);
      const code = codeAt(secret, 0);
      assert.equal((await login(user, { otp: code })).status, 200);
      assertProblem(await login(user, { otp: code }), 401, 'INVALID_OTP');
      // The previous step's code is still inside the drift window but older than one used.
      assertProblem(await login(user, { otp: codeAt(secret, -1) }), 401, 'INVALID_OTP');
      // The next step's code is new and inside the window.
      assert.equal((await login(user, { otp: codeAt(secret, 1) })).status, 200);
    });

    it('codes outside the one-step window are refused', async () => {
      const user = await t.customer();
      const { secret } = await enableMfa(user);
      assertProblem(await login(user, { otp: codeAt(secret, 2) }), 401, 'INVALID_OTP');
      assertProblem(await login(user, { otp: codeAt(secret, -3) }), 401, 'INVALID_OTP');
    });

    it('two logins racing with one code: exactly one succeeds', async () => {
      const user = await t.customer();
      const { secret } = await enableMfa(user);
      const code = codeAt(secret, 0);
      const results = await Promise.all(
        Array.from({ length: 5 }, () => login(user, { otp: code })),
      );
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 401, 401, 401, 401]);
    });

    it('a recovery code works once instead of a TOTP code', async () => {
      const user = await t.customer();
      const { recoveryCodes } = await enableMfa(user);
      const [first, second] = recoveryCodes;
      assert.ok(first !== undefined && second !== undefined);
      assert.equal((await login(user, { otp: first })).status, 200);
      assertProblem(await login(user, { otp: first }), 401, 'INVALID_OTP');
      // Typed without the dash and in lower case, a code still works (once).
      assert.equal((await login(user, { otp: second.replace('-', '').toLowerCase() })).status, 200);
      assertProblem(await login(user, { otp: second }), 401, 'INVALID_OTP');
      // Another user's recovery code is worthless here.
      const other = await t.customer();
      const otherCodes = (await enableMfa(other)).recoveryCodes;
      assertProblem(await login(user, { otp: otherCodes[0] ?? '' }), 401, 'INVALID_OTP');
    });

    it('disabling needs the password and a code, and turns the second factor off', async () => {
      const user = await t.customer();
      const { secret, recoveryCodes } = await enableMfa(user);
      assertProblem(
        await t.request('POST', '/api/v1/me/mfa/disable', {
          token: user.token,
          body: { password: 'not the password at all', code: codeAt(secret, 0) },
        }),
        401,
        'INVALID_CREDENTIALS',
      );
      assertProblem(
        await t.request('POST', '/api/v1/me/mfa/disable', {
          token: user.token,
          body: { password: user.password, code: wrongCode(secret) },
        }),
        401,
        'INVALID_OTP',
      );
      assert.equal(await mfaEnabled(user), true);
      const disabled = await t.request('POST', '/api/v1/me/mfa/disable', {
        token: user.token,
        body: { password: user.password, code: recoveryCodes[3] ?? '' },
      });
      assert.equal(disabled.status, 204, JSON.stringify(disabled.body));
      assert.equal(await mfaEnabled(user), false);
      assert.equal((await login(user)).status, 200);
      assert.ok((await auditActions(user.id)).includes('auth.mfa_disabled'));
      assertProblem(
        await t.request('POST', '/api/v1/me/mfa/disable', {
          token: user.token,
          body: { password: user.password, code: codeAt(secret, 0) },
        }),
        409,
        'MFA_NOT_ENABLED',
      );
      // Old recovery codes are gone with the factor; a new enrolment starts clean.
      const again = await enableMfa(user);
      assert.notEqual(again.secret, secret);
      assertProblem(await login(user, { otp: recoveryCodes[4] ?? '' }), 401, 'INVALID_OTP');
    });

    it('disabling with a TOTP code works too', async () => {
      const user = await t.customer();
      const { secret } = await enableMfa(user);
      const disabled = await t.request('POST', '/api/v1/me/mfa/disable', {
        token: user.token,
        body: { password: DEFAULT_PASSWORD, code: codeAt(secret, 0) },
      });
      assert.equal(disabled.status, 204);
      assert.equal(await mfaEnabled(user), false);
    });

    it('assertStaffFactor: refused without MFA; with it, a fresh TOTP code only', async () => {
      const { database, secrets } = t.runtime;
      const mfa = new MfaService({
        db: database.db,
        engine: database.engine,
        keys: deriveMfaKeys(secrets.pinPepper),
        // This check never ends sessions; nothing to evict.
        gate: { revoked: async () => undefined },
        guard: new CredentialGuard({
          db: database.db,
          engine: database.engine,
          backoff: new LoginBackoff(new MemoryBackoffStore(), {
            perClient: { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 60_000 },
            perUsername: { freeFailures: 10, baseDelayMs: 1000, maxDelayMs: 60_000 },
          }),
          maxFailures: 10,
        }),
      });
      const assertStaffMfa = (_db: unknown, userId: string, otp: string | undefined) =>
        mfa.assertStaffFactor(userId, otp);
      const db = database.db;
      const admin = await t.staffWithoutMfa('admin');
      const rejects = (otp: string | undefined, code: string) =>
        assert.rejects(
          assertStaffMfa(db, admin.id, otp),
          (error: unknown) => error instanceof CorebankError && error.code === code,
        );
      // Staff without MFA are refused outright, code or none (issue #10, item 6).
      await rejects(undefined, 'MFA_ENROLMENT_REQUIRED');
      await rejects('123456', 'MFA_ENROLMENT_REQUIRED');
      const { secret, recoveryCodes } = await enableMfa(admin);
      await rejects(undefined, 'MFA_REQUIRED');
      await rejects(wrongCode(secret), 'INVALID_OTP');
      await rejects(recoveryCodes[0], 'INVALID_OTP');
      const code = codeAt(secret, 0);
      await assertStaffMfa(db, admin.id, code);
      await rejects(code, 'INVALID_OTP');
    });
  });
}
