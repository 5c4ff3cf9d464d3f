import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createTestApp,
  DEFAULT_PASSWORD,
  ENGINES,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { enrolMfa, totpCode } from './support/staff.ts';

/**
 * Issue #10, item 3, second half: "a stranger can slow, never lock out". While a stranger
 * holds a username's back-off, a login that proves more (a right TOTP code of a user with
 * MFA on) goes on to the password check from any client; without the code, or with a wrong
 * one, the caller stays slowed, and wrong codes on that path lock nobody.
 */

const AUTH_MAX_FAILURES = 5;

for (const engine of ENGINES) {
  describe(`login back-off and MFA [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, {
        LOGIN_BACKOFF_FREE_FAILURES: '3',
        LOGIN_BACKOFF_USERNAME_FREE_FAILURES: '2',
        LOGIN_BACKOFF_BASE_MS: '60000',
        AUTH_MAX_FAILURES: String(AUTH_MAX_FAILURES),
      });
    });
    after(async () => t.close());

    let address = 0;
    async function login(
      username: string,
      password: string,
      options: { otp?: string; from?: string } = {},
    ) {
      address += 1;
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        remoteAddress: options.from ?? `198.51.100.${address % 250}`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({
          username,
          password,
          ...(options.otp === undefined ? {} : { otp: options.otp }),
        }),
      });
      const body = JSON.parse(response.body) as { code?: string; accessToken?: string };
      return { status: response.statusCode, code: body.code, body: response.body };
    }

    /** A stranger, each guess from a new address, until the username is held. */
    async function holdUsername(username: string): Promise<void> {
      for (let i = 0; i < 3; i++) {
        assert.equal((await login(username, 'a wrong guess of theirs')).status, 401);
      }
      assert.equal((await login(username, 'another wrong guess')).status, 429);
    }

    async function lockedAt(user: TestUser): Promise<string | null> {
      const row = await t.runtime.database.db
        .selectFrom('users')
        .select('locked_at')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      return row.locked_at;
    }

    async function withMfa(): Promise<TestUser & { mfaSecret: string }> {
      const user = await t.customer({ pin: null });
      return { ...user, mfaSecret: await enrolMfa(t, user) };
    }

    it('#3: while a stranger holds the username, the owner gets in from a new client with a right code; without it everyone stays slowed', async () => {
      const owner = await withMfa();
      await holdUsername(owner.username);

      // The right password alone, from a new address, waits (as before).
      const plain = await login(owner.username, DEFAULT_PASSWORD);
      assert.equal(plain.status, 429, plain.body);
      // A wrong code gets the same answer as no code: nothing about MFA leaks.
      const wrong = await login(owner.username, DEFAULT_PASSWORD, { otp: '000000' });
      assert.equal(wrong.status, 429, wrong.body);
      assert.equal(wrong.code, 'RATE_LIMITED');

      // A right code leads on to the password check: a wrong password is still refused.
      const guessed = await login(owner.username, 'not the password', {
        otp: await t.staffOtp(owner),
      });
      assert.equal(guessed.status, 401, guessed.body);
      assert.equal(guessed.code, 'INVALID_CREDENTIALS');
      // The owner, with the password and a current code, is in.
      const owned = await login(owner.username, DEFAULT_PASSWORD, {
        otp: await t.staffOtp(owner),
      });
      assert.equal(owned.status, 200, owned.body);
      // A code is good once: replaying the one just used is slowed like no code at all.
      const replay = await login(owner.username, DEFAULT_PASSWORD, {
        otp: totpCode(owner.mfaSecret),
      });
      assert.equal(replay.status, 429, replay.body);
      // And the stranger is still slowed.
      assert.equal((await login(owner.username, 'yet another guess')).status, 429);
      assert.equal(await lockedAt(owner), null);
    });

    it('#3: wrong codes on that path slow their client and lock nobody; the owner still gets in', async () => {
      const owner = await withMfa();
      await holdUsername(owner.username);
      // More wrong codes than AUTH_MAX_FAILURES, from one address: every one answers 429,
      // the address is soon held by its own back-off too, and the user is not locked.
      const attacker = '192.0.2.66';
      for (let i = 0; i < AUTH_MAX_FAILURES + 3; i++) {
        const response = await login(owner.username, 'a guess', {
          otp: String(100000 + i),
          from: attacker,
        });
        assert.equal(response.status, 429, response.body);
      }
      assert.equal(await lockedAt(owner), null, 'a stranger without the password locks nobody');
      // That address is now held itself: even a right code from it waits.
      const fromAttacker = await login(owner.username, DEFAULT_PASSWORD, {
        otp: await t.staffOtp(owner),
        from: attacker,
      });
      assert.equal(fromAttacker.status, 429, fromAttacker.body);
      // The owner, from their own new address, with a right code: in.
      const owned = await login(owner.username, DEFAULT_PASSWORD, {
        otp: await t.staffOtp(owner),
      });
      assert.equal(owned.status, 200, owned.body);
    });

    it('#3: a code does not open a held username without MFA, nor an unknown one', async () => {
      const plain = await t.customer({ pin: null });
      await holdUsername(plain.username);
      const withCode = await login(plain.username, DEFAULT_PASSWORD, { otp: '123456' });
      assert.equal(withCode.status, 429, withCode.body);
      await holdUsername('nobody_by_this_name');
      const unknown = await login('nobody_by_this_name', DEFAULT_PASSWORD, { otp: '123456' });
      assert.equal(unknown.status, 429, unknown.body);
    });
  });
}
