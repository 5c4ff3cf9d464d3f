import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import {
  createTestApp,
  DEFAULT_PASSWORD,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { allAuditEvents, enrolMfa, totpCode } from './support/staff.ts';

/**
 * Issue #10, items 1, 2 and 9: every check of a known user's password or one-time code
 * shares one back-off, is audited and counts toward a lock; staff actions are rate limited;
 * login, registration and reset requests are limited per client.
 */

const WRONG_PASSWORD = 'certainly not the password';

function codeOf(response: Response<unknown>): string | undefined {
  return (response.body as { code?: string }).code;
}

/** A six-digit code that no step near now produces for this secret. */
function wrongCode(secret: string): string {
  const near = new Set([-1, 0, 1, 2].map((step) => totpCode(secret, step)));
  for (const candidate of ['000000', '111111', '222222', '333333']) {
    if (!near.has(candidate)) return candidate;
  }
  throw new Error('unreachable');
}

for (const engine of ENGINES) {
  describe(`credential guard: back-off [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(async () => t.close());

    it('#1: wrong staff step-up codes meet the back-off (429) after the free failures', async () => {
      const admin = await t.staffWithoutMfa('admin');
      const secret = await enrolMfa(t, admin);
      const { account } = await t.fundedCustomer('1.00');
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const response = await t.request('POST', `/api/v1/admin/accounts/${account}/freeze`, {
          token: admin.token,
          body: { otp: wrongCode(secret) },
        });
        statuses.push(response.status);
      }
      // Three free failures, the fourth starts the back-off, the fifth is refused unchecked.
      assert.deepEqual(statuses, [401, 401, 401, 401, 429]);
    });

    it('#2: wrong passwords on MFA enrolment meet the same back-off and are audited', async () => {
      const user = await t.customer({ pin: null });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const response = await t.request('POST', '/api/v1/me/mfa/enrol', {
          token: user.token,
          body: { password: WRONG_PASSWORD },
        });
        statuses.push(response.status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 401, 429]);
      // Shared: the PIN endpoint is throttled for this user now too.
      const pin = await t.request('PUT', '/api/v1/me/pin', {
        token: user.token,
        body: { password: DEFAULT_PASSWORD, pin: '8351' },
      });
      assert.equal(pin.status, 429);
      const auditor = await t.staff('auditor');
      const events = await allAuditEvents(t, auditor, `&target=user:${user.id}`);
      const enrolFailures = events.filter(
        (event) =>
          event.action === 'auth.mfa_enabled' &&
          event.outcome === 'failure' &&
          event.details?.reason === 'wrong_password',
      );
      assert.equal(enrolFailures.length, 4);
    });
  });

  describe(`credential guard: lock [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      // No back-off here, so the lock is reached quickly.
      t = await createTestApp(engine, {
        AUTH_MAX_FAILURES: '5',
        LOGIN_BACKOFF_FREE_FAILURES: '100',
        LOGIN_BACKOFF_USERNAME_FREE_FAILURES: '100',
      });
    });
    after(async () => t.close());

    async function locked(user: TestUser): Promise<boolean> {
      const row = await t.runtime.database.db
        .selectFrom('users')
        .select('locked_at')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      return row.locked_at !== null;
    }

    it('#1: wrong step-up codes lock the admin (423); a right code is then refused too', async () => {
      const admin = await t.staffWithoutMfa('admin');
      const secret = await enrolMfa(t, admin);
      const { account } = await t.fundedCustomer('1.00');
      const freeze = (otp: string) =>
        t.request('POST', `/api/v1/admin/accounts/${account}/freeze`, {
          token: admin.token,
          body: { otp },
        });
      for (let i = 1; i <= 4; i++) {
        const response = await freeze(wrongCode(secret));
        assert.equal(response.status, 401);
        assert.equal(codeOf(response), 'INVALID_OTP');
      }
      const fifth = await freeze(wrongCode(secret));
      assert.equal(fifth.status, 423, JSON.stringify(fifth.body));
      assert.equal(codeOf(fifth), 'USER_LOCKED');
      assert.equal(await locked(admin), true);
      const right = await freeze(totpCode(secret, 1));
      assert.equal(right.status, 423);
      const status = await t.request<{ status: string }>('GET', `/api/v1/accounts/${account}`, {
        token: (await t.staff('auditor')).token,
      });
      assert.equal(status.body.status, 'active');
      // Another admin unlocks; the count starts again from zero.
      const other = await t.staffWithoutMfa('admin');
      const otherSecret = await enrolMfa(t, other);
      const unlock = await t.request('POST', `/api/v1/admin/users/${admin.id}/unlock`, {
        token: other.token,
        body: { otp: totpCode(otherSecret, 1) },
      });
      assert.equal(unlock.status, 200, JSON.stringify(unlock.body));
      assert.equal(await locked(admin), false);
      const row = await t.runtime.database.db
        .selectFrom('users')
        .select('failed_auth_attempts')
        .where('id', '=', admin.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(row.failed_auth_attempts), 0);
    });

    it('#1/#2: wrong passwords and codes across endpoints share one count and lock', async () => {
      const user = await t.customer({ pin: null });
      const secret = await enrolMfa(t, user);
      const attempts: Array<() => Promise<Response<unknown>>> = [
        () =>
          t.request('POST', '/api/v1/me/mfa/disable', {
            token: user.token,
            body: { password: WRONG_PASSWORD, code: totpCode(secret, 1) },
          }),
        () =>
          t.request('PUT', '/api/v1/me/pin', {
            token: user.token,
            body: { password: WRONG_PASSWORD, pin: '8351' },
          }),
        () =>
          t.request('POST', '/api/v1/me/password', {
            token: user.token,
            body: { currentPassword: WRONG_PASSWORD, newPassword: 'another fine passphrase' },
          }),
        () =>
          t.request('POST', '/api/v1/me/mfa/disable', {
            token: user.token,
            body: { password: DEFAULT_PASSWORD, code: wrongCode(secret) },
          }),
        () =>
          t.request('POST', '/api/v1/auth/login', {
            body: { username: user.username, password: DEFAULT_PASSWORD, otp: wrongCode(secret) },
          }),
      ];
      const statuses: number[] = [];
      for (const attempt of attempts) statuses.push((await attempt()).status);
      assert.deepEqual(statuses, [401, 401, 401, 401, 423]);
      assert.equal(await locked(user), true);
      // The right password and a right code no longer get in.
      const login = await t.request('POST', '/api/v1/auth/login', {
        body: { username: user.username, password: DEFAULT_PASSWORD, otp: totpCode(secret, 1) },
      });
      assert.equal(login.status, 423);
      const auditor = await t.staff('auditor');
      const events = await allAuditEvents(t, auditor, `&target=user:${user.id}`);
      assert.ok(events.some((event) => event.action === 'user.locked'));
      assert.ok(
        events.some(
          (event) =>
            event.action === 'auth.mfa_disabled' && event.details?.reason === 'invalid_otp',
        ),
      );
    });

    it('a right password resets the count: wrong answers must come in a row', async () => {
      const user = await t.customer({ pin: null });
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 4; i++) {
          const wrong = await t.request('PUT', '/api/v1/me/pin', {
            token: user.token,
            body: { password: WRONG_PASSWORD, pin: '8351' },
          });
          assert.equal(wrong.status, 401);
        }
        const right = await t.request('PUT', '/api/v1/me/pin', {
          token: user.token,
          body: { password: DEFAULT_PASSWORD, pin: '8351' },
        });
        assert.equal(right.status, 204);
      }
      assert.equal(await locked(user), false);
    });
  });

  describe(`rate limits per client and for staff [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      // The documented defaults of the new limits, with the others as the harness sets them.
      t = await createTestApp(engine, {
        RATE_LIMITS: 'on',
        RATE_LIMIT_REGISTER_PER_MINUTE: '5',
        RATE_LIMIT_PASSWORD_RESET_PER_MINUTE: '5',
        RATE_LIMIT_LOGIN_PER_CLIENT_PER_MINUTE: '20',
        RATE_LIMIT_ADMIN_PER_MINUTE: '30',
      });
    });
    after(async () => t.close());

    it('documents the defaults this suite uses', () => {
      const config = loadConfig({});
      assert.equal(config.rateLimits.registerPerMinute, 5);
      assert.equal(config.rateLimits.passwordResetPerMinute, 5);
      assert.equal(config.rateLimits.loginPerClientPerMinute, 20);
      assert.equal(config.rateLimits.adminPerMinute, 30);
      assert.equal(config.security.authMaxFailures, 10);
      assert.equal(config.security.sessionAbsoluteTtlSeconds, 2_592_000);
    });

    it('#9: the sixth registration from one client in a minute answers 429', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const name = t.uniqueName('spray');
        const response = await t.request('POST', '/api/v1/auth/register', {
          body: {
            username: name,
            password: DEFAULT_PASSWORD,
            fullName: 'Sprayer',
            email: `${name}@example.com`,
          },
        });
        statuses.push(response.status);
      }
      assert.deepEqual(statuses, [201, 201, 201, 201, 201, 429]);
    });

    it('#9: the sixth reset request from one client in a minute answers 429', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const response = await t.request('POST', '/api/v1/auth/password-reset/request', {
          body: { email: `nobody${i}@example.com` },
        });
        statuses.push(response.status);
      }
      assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429]);
    });

    it('#1: staff actions are rate limited per staff user', async () => {
      // Created directly: registering through the API would spend this client's allowance.
      const admin = await t.staffWithoutMfa('admin');
      const secret = await enrolMfa(t, admin);
      const statuses: number[] = [];
      for (let i = 0; i < 31; i++) {
        const response = await t.request('POST', '/api/v1/admin/accounts/000000000000/freeze', {
          token: admin.token,
          body: { otp: i === 0 ? totpCode(secret, 1) : undefined },
        });
        statuses.push(response.status);
      }
      assert.ok(!statuses.slice(0, 30).includes(429), String(statuses));
      assert.equal(statuses[30], 429);
    });

    it('#9: logins spraying many usernames from one client are cut off after 20', async () => {
      // Its own app, so no other test's logins count against this client.
      const fresh = await createTestApp(engine, {
        RATE_LIMITS: 'on',
        RATE_LIMIT_LOGIN_PER_CLIENT_PER_MINUTE: '20',
      });
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) {
        const response = await fresh.request('POST', '/api/v1/auth/login', {
          body: { username: `sprayed_${i}`, password: WRONG_PASSWORD },
        });
        statuses.push(response.status);
      }
      assert.deepEqual(statuses.slice(0, 20), Array(20).fill(401));
      assert.equal(statuses[20], 429);
      await fresh.close();
    });
  });
}
