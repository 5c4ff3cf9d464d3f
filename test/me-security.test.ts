import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { assertProblem, auditEvents, refresh, type TokenPair } from './support/auth-helpers.ts';
import {
  createTestApp,
  DEFAULT_PASSWORD,
  DEFAULT_PIN,
  ENGINES,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { totpCode } from './support/staff.ts';

/**
 * The signed-in user's own security (issue #16), on both engines: how many PIN attempts
 * are left, new recovery codes, and the list of signed-in devices with ending one or all
 * the others.
 */
const FIREFOX_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 ' +
  '(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const CHROME_LINUX =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36';

interface Device {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  device: string;
  ip: string | null;
  current: boolean;
}

for (const engine of ENGINES) {
  describe(`own security [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    async function loginAs(user: TestUser, userAgent: string, otp?: string): Promise<TokenPair> {
      const response = await t.request<TokenPair>('POST', '/api/v1/auth/login', {
        body: {
          username: user.username,
          password: user.password,
          ...(otp === undefined ? {} : { otp }),
        },
        headers: { 'user-agent': userAgent },
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body;
    }

    async function devices(token: string): Promise<Device[]> {
      const response = await t.request<{ data: Device[] }>('GET', '/api/v1/me/sessions', {
        token,
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.data;
    }

    async function pinAttemptsLeft(user: TestUser): Promise<number> {
      const me = await t.request<{ pinAttemptsLeft: number }>('GET', '/api/v1/me', {
        token: user.token,
      });
      assert.equal(me.status, 200, JSON.stringify(me.body));
      return me.body.pinAttemptsLeft;
    }

    describe('PIN attempts left', () => {
      it('a wrong PIN says how many attempts are left, GET /me counts down, a right PIN resets it', async () => {
        const { user, account } = await t.fundedCustomer('100.00');
        const other = await t.fundedCustomer('1.00');
        assert.equal(await pinAttemptsLeft(user), 3);

        const first = assertProblem(
          await t.withdraw(user, account, '1.00', { pin: '9999' }),
          403,
          'INVALID_PIN',
          'pin',
        );
        assert.equal(first.attemptsLeft, 2);
        assert.match(String(first.detail), /2 attempts left/);
        assert.equal(await pinAttemptsLeft(user), 2);

        const second = assertProblem(
          await t.transfer(user, account, other.account, '1.00', { pin: '9998' }),
          403,
          'INVALID_PIN',
          'pin',
        );
        assert.equal(second.attemptsLeft, 1);
        assert.match(String(second.detail), /1 attempt left/);
        assert.equal(await pinAttemptsLeft(user), 1);

        assert.equal((await t.withdraw(user, account, '1.00', { pin: DEFAULT_PIN })).status, 201);
        assert.equal(await pinAttemptsLeft(user), 3);
        assert.equal(await t.balance(user, account), '99.00');
      });

      it('the last wrong PIN locks the user: no attemptsLeft on USER_LOCKED, GET /me says 0', async () => {
        const { user, account } = await t.fundedCustomer('10.00');
        for (const left of [2, 1]) {
          const wrong = assertProblem(
            await t.withdraw(user, account, '1.00', { pin: '1111' }),
            403,
            'INVALID_PIN',
          );
          assert.equal(wrong.attemptsLeft, left);
        }
        const locked = assertProblem(
          await t.withdraw(user, account, '1.00', { pin: '1111' }),
          423,
          'USER_LOCKED',
        );
        assert.equal(locked.attemptsLeft, undefined);
        assert.equal(await pinAttemptsLeft(user), 0);
        assert.equal(await t.balance(user, account), '10.00');
      });

      it('other problems carry no attemptsLeft', async () => {
        const { user, account } = await t.fundedCustomer('1.00');
        const poor = assertProblem(
          await t.withdraw(user, account, '5.00'),
          422,
          'INSUFFICIENT_FUNDS',
        );
        assert.equal('attemptsLeft' in poor, false);
      });
    });

    describe('new recovery codes', () => {
      async function enableMfa(user: TestUser): Promise<{ secret: string; codes: string[] }> {
        const enrol = await t.request<{ secret: string }>('POST', '/api/v1/me/mfa/enrol', {
          token: user.token,
          body: { password: DEFAULT_PASSWORD },
        });
        assert.equal(enrol.status, 200, JSON.stringify(enrol.body));
        const confirm = await t.request<{ recoveryCodes: string[] }>(
          'POST',
          '/api/v1/me/mfa/confirm',
          { token: user.token, body: { code: totpCode(enrol.body.secret, -1) } },
        );
        assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
        return { secret: enrol.body.secret, codes: confirm.body.recoveryCodes };
      }

      function renew(user: TestUser, body: Record<string, string>) {
        return t.request<{ recoveryCodes: string[] }>('POST', '/api/v1/me/mfa/recovery-codes', {
          token: user.token,
          body,
        });
      }

      function loginWith(user: TestUser, otp: string) {
        return t.request('POST', '/api/v1/auth/login', {
          body: { username: user.username, password: user.password, otp },
        });
      }

      it('needs the password and a current app code; the new set is shown once, the old one stops working; audited', async () => {
        const user = await t.customer({ pin: null });
        const { secret, codes: old } = await enableMfa(user);
        const valid = new Set([-1, 0, 1].map((step) => totpCode(secret, step)));
        const wrongCode = ['000000', '111111', '222222'].find((c) => !valid.has(c)) ?? '333333';

        assertProblem(
          await renew(user, { password: 'not my password at all', code: totpCode(secret, 0) }),
          401,
          'INVALID_CREDENTIALS',
          'password',
        );
        assertProblem(
          await renew(user, { password: DEFAULT_PASSWORD, code: wrongCode }),
          401,
          'INVALID_OTP',
          'code',
        );
        // A recovery code cannot mint more recovery codes.
        assertProblem(
          await renew(user, { password: DEFAULT_PASSWORD, code: String(old[0]) }),
          400,
          'VALIDATION_FAILED',
        );

        const renewed = await renew(user, {
          password: DEFAULT_PASSWORD,
          code: totpCode(secret, 0),
        });
        assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
        assert.equal(renewed.headers['cache-control'], 'no-store');
        const fresh = renewed.body.recoveryCodes;
        assert.equal(fresh.length, old.length);
        assert.equal(new Set(fresh).size, fresh.length);
        assert.ok(fresh.every((code) => !old.includes(code)));

        // Every old code is dead, even one never used; a new one signs in, once.
        assertProblem(await loginWith(user, String(old[1])), 401, 'INVALID_OTP');
        assert.equal((await loginWith(user, String(fresh[0]))).status, 200);
        assertProblem(await loginWith(user, String(fresh[0])), 401, 'INVALID_OTP');

        const events = (await auditEvents(t, 'auth.mfa_recovery_codes_renewed')).filter(
          (event) => event.actor_user_id === user.id,
        );
        assert.deepEqual(
          events.map((event) => event.outcome),
          ['failure', 'failure', 'success'],
        );
      });

      it('the same app code cannot renew twice; without two-step verification it answers 409', async () => {
        const user = await t.customer({ pin: null });
        const { secret } = await enableMfa(user);
        const code = totpCode(secret, 0);
        assert.equal((await renew(user, { password: DEFAULT_PASSWORD, code })).status, 200);
        assertProblem(await renew(user, { password: DEFAULT_PASSWORD, code }), 401, 'INVALID_OTP');

        const plain = await t.customer({ pin: null });
        assertProblem(
          await renew(plain, { password: DEFAULT_PASSWORD, code: '123456' }),
          409,
          'MFA_NOT_ENABLED',
        );
      });
    });

    describe('signed-in devices', () => {
      it('lists each login once with its device and address, marks this one, and follows refreshes', async () => {
        const user = await t.customer({ pin: null });
        const laptop = await loginAs(user, FIREFOX_WINDOWS);
        const phone = await loginAs(user, SAFARI_IPHONE);

        const seen = await devices(laptop.accessToken);
        // The customer's set-up login (no browser) and the two above.
        assert.equal(seen.length, 3);
        const current = seen.filter((d) => d.current);
        assert.equal(current.length, 1);
        assert.equal(current[0]?.device, 'Firefox on Windows');
        const phoneEntry = seen.find((d) => d.device === 'Safari on iOS');
        assert.ok(phoneEntry, JSON.stringify(seen));
        assert.equal(phoneEntry.current, false);
        assert.equal(phoneEntry.ip, '127.0.0.1');
        assert.equal(phoneEntry.createdAt, phoneEntry.lastUsedAt);

        // A refresh moves "last used" and keeps one entry per login, under the same id.
        await new Promise((resolve) => setTimeout(resolve, 5));
        const rotated = await refresh(t, phone.refreshToken);
        assert.equal(rotated.status, 200);
        const after = await devices(rotated.body.accessToken);
        assert.equal(after.length, 3);
        const phoneAfter = after.find((d) => d.id === phoneEntry.id);
        assert.ok(phoneAfter);
        assert.equal(phoneAfter.current, true);
        assert.equal(phoneAfter.createdAt, phoneEntry.createdAt);
        assert.ok(phoneAfter.lastUsedAt > phoneEntry.lastUsedAt);
        assert.equal(after[0]?.id, phoneEntry.id, 'newest use first');
      });

      it('ending one device stops its access and refresh tokens at once; audited', async () => {
        const user = await t.customer({ pin: null });
        const laptop = await loginAs(user, FIREFOX_WINDOWS);
        const phone = await loginAs(user, SAFARI_IPHONE);
        const phoneId = (await devices(phone.accessToken)).find((d) => d.current)?.id;
        assert.ok(phoneId);

        const ended = await t.request('DELETE', `/api/v1/me/sessions/${phoneId}`, {
          token: laptop.accessToken,
        });
        assert.equal(ended.status, 204, JSON.stringify(ended.body));
        assertProblem(
          await t.request('GET', '/api/v1/me', { token: phone.accessToken }),
          401,
          'UNAUTHENTICATED',
        );
        assertProblem(await refresh(t, phone.refreshToken), 401, 'UNAUTHENTICATED');
        assert.equal(
          (await t.request('GET', '/api/v1/me', { token: laptop.accessToken })).status,
          200,
        );
        const left = await devices(laptop.accessToken);
        assert.equal(
          left.some((d) => d.id === phoneId),
          false,
        );
        // Ending it again: nothing left to end.
        assertProblem(
          await t.request('DELETE', `/api/v1/me/sessions/${phoneId}`, {
            token: laptop.accessToken,
          }),
          404,
          'NOT_FOUND',
        );
        const events = (await auditEvents(t, 'auth.session_ended')).filter(
          (event) => event.actor_user_id === user.id,
        );
        assert.equal(events.length, 1);
        assert.match(String(events[0]?.details), new RegExp(phoneId));
      });

      it('another customer cannot see or end my session: 404 like an unknown id', async () => {
        const mine = await t.customer({ pin: null });
        const myLogin = await loginAs(mine, CHROME_LINUX);
        const myId = (await devices(myLogin.accessToken)).find((d) => d.current)?.id;
        assert.ok(myId);
        const stranger = await t.customer({ pin: null });

        assert.equal(
          (await devices(stranger.token)).some((d) => d.id === myId),
          false,
        );
        assertProblem(
          await t.request('DELETE', `/api/v1/me/sessions/${myId}`, { token: stranger.token }),
          404,
          'NOT_FOUND',
        );
        assertProblem(
          await t.request('DELETE', `/api/v1/me/sessions/${crypto.randomUUID()}`, {
            token: stranger.token,
          }),
          404,
          'NOT_FOUND',
        );
        assertProblem(
          await t.request('DELETE', '/api/v1/me/sessions/not-a-uuid', { token: stranger.token }),
          400,
          'VALIDATION_FAILED',
        );
        // Staff powers do not reach other people's sessions either.
        const admin = await t.staff('admin');
        assertProblem(
          await t.request('DELETE', `/api/v1/me/sessions/${myId}`, { token: admin.token }),
          404,
          'NOT_FOUND',
        );
        assert.equal(
          (await t.request('GET', '/api/v1/me', { token: myLogin.accessToken })).status,
          200,
        );
        assert.equal((await refresh(t, myLogin.refreshToken)).status, 200);
        assertProblem(await t.request('GET', '/api/v1/me/sessions'), 401, 'UNAUTHENTICATED');
      });

      it('staff who have not enrolled two-step verification yet may still look after their own devices', async () => {
        const teller = await t.staffWithoutMfa('teller');
        const list = await devices(teller.token);
        assert.equal(list.length, 1);
        assert.equal(list[0]?.current, true);
        const ended = await t.request('POST', '/api/v1/me/sessions/end-others', {
          token: teller.token,
        });
        assert.equal(ended.status, 204, JSON.stringify(ended.body));
      });

      it('"end the others" keeps this login and ends every other one; audited', async () => {
        const user = await t.customer({ pin: null });
        const laptop = await loginAs(user, FIREFOX_WINDOWS);
        const phone = await loginAs(user, SAFARI_IPHONE);
        const rotatedLaptop = await refresh(t, laptop.refreshToken);
        assert.equal(rotatedLaptop.status, 200);

        const ended = await t.request('POST', '/api/v1/me/sessions/end-others', {
          token: rotatedLaptop.body.accessToken,
        });
        assert.equal(ended.status, 204, JSON.stringify(ended.body));
        for (const token of [user.token, phone.accessToken]) {
          assertProblem(await t.request('GET', '/api/v1/me', { token }), 401, 'UNAUTHENTICATED');
        }
        assertProblem(await refresh(t, phone.refreshToken), 401, 'UNAUTHENTICATED');
        const left = await devices(rotatedLaptop.body.accessToken);
        assert.equal(left.length, 1);
        assert.equal(left[0]?.current, true);
        assert.equal((await refresh(t, rotatedLaptop.body.refreshToken)).status, 200);
        const events = (await auditEvents(t, 'auth.session_ended')).filter(
          (event) => event.actor_user_id === user.id,
        );
        assert.equal(events.length, 1);
        assert.match(String(events[0]?.details), /other sessions/);
      });
    });
  });
}
