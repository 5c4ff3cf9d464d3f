import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, DEFAULT_PASSWORD, ENGINES, type TestApp } from './support/harness.ts';

/**
 * Issue #10, item 3: a stranger renewing the per-username back-off from ever new addresses
 * must not keep the owner out. The owner's client, which signed in before, holds a device
 * cookie and is exempt from the per-username back-off (not from its own); the stranger
 * stays slowed.
 */

for (const engine of ENGINES) {
  describe(`device cookies [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, {
        LOGIN_BACKOFF_FREE_FAILURES: '3',
        LOGIN_BACKOFF_USERNAME_FREE_FAILURES: '2',
        LOGIN_BACKOFF_BASE_MS: '60000',
      });
    });
    after(async () => t.close());

    let address = 0;
    async function login(
      username: string,
      password: string,
      options: { cookie?: string; from?: string } = {},
    ) {
      address += 1;
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        remoteAddress: options.from ?? `198.51.100.${address % 250}`,
        headers: {
          'content-type': 'application/json',
          ...(options.cookie === undefined ? {} : { cookie: `corebank_device=${options.cookie}` }),
        },
        payload: JSON.stringify({ username, password }),
      });
      const device = response.cookies.find((cookie) => cookie.name === 'corebank_device');
      return { status: response.statusCode, device, body: response.body };
    }

    it('#3: the owner gets in with the device cookie while a stranger keeps the username slowed', async () => {
      const owner = await t.customer({ pin: null });
      const first = await login(owner.username, DEFAULT_PASSWORD, { from: '203.0.113.7' });
      assert.equal(first.status, 200);
      assert.ok(first.device !== undefined, 'a successful login sets the device cookie');
      assert.equal(first.device.httpOnly, true);
      assert.equal(first.device.secure, true);
      assert.equal(first.device.sameSite, 'Strict');
      assert.equal(first.device.path, '/api/v1/auth/login');
      const cookie = first.device.value;

      // A stranger, each guess from a new address: the per-username back-off engages.
      for (let i = 0; i < 3; i++) {
        assert.equal((await login(owner.username, 'a wrong guess of theirs')).status, 401);
      }
      assert.equal((await login(owner.username, 'another wrong guess')).status, 429);
      // Without the cookie, even the right password from a new address waits (as before).
      assert.equal((await login(owner.username, DEFAULT_PASSWORD)).status, 429);
      // With it, the owner is in.
      const owned = await login(owner.username, DEFAULT_PASSWORD, { cookie });
      assert.equal(owned.status, 200, owned.body);
      // And the stranger is still slowed.
      assert.equal((await login(owner.username, 'yet another guess')).status, 429);
    });

    it('#3: a cookie counts only for its own username and has its own back-off', async () => {
      const alice = await t.customer({ pin: null });
      const bob = await t.customer({ pin: null });
      const aliceCookie = (await login(alice.username, DEFAULT_PASSWORD)).device?.value;
      assert.ok(aliceCookie !== undefined);
      for (let i = 0; i < 3; i++) await login(bob.username, 'wrong guess for bob');
      assert.equal((await login(bob.username, 'wrong guess for bob')).status, 429);
      // Alice's cookie does not open Bob's throttled username, nor does a forged one.
      assert.equal(
        (await login(bob.username, DEFAULT_PASSWORD, { cookie: aliceCookie })).status,
        429,
      );
      const forged = `v1.AAAAAAAAAAAAAAAAAAAAAA.${'A'.repeat(43)}`;
      assert.equal((await login(bob.username, DEFAULT_PASSWORD, { cookie: forged })).status, 429);
      // A client with the cookie that keeps guessing is slowed by its own key.
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        statuses.push((await login(alice.username, 'wrong', { cookie: aliceCookie })).status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 401, 429]);
    });
  });
}
