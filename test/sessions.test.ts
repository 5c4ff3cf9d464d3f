import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../src/app.ts';
import type { App } from '../src/http/types.ts';
import { openRuntime, type Runtime } from '../src/runtime.ts';
import {
  assertProblem,
  auditEvents,
  claimsOf,
  eventually,
  loginPair,
  logout,
  me,
  refresh,
} from './support/auth-helpers.ts';
import { createTestApp, DEFAULT_PASSWORD, ENGINES, type TestApp } from './support/harness.ts';

/**
 * Sessions: refresh-token rotation and reuse detection, logout, and the auth guard's
 * liveness check (tokens stop working at once), on both engines; and cross-process
 * revocation through Redis with two app instances on one PostgreSQL database.
 */
const QUIET = { RATE_LIMITS: 'off' };
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

for (const engine of ENGINES) {
  describe(`sessions [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, QUIET);
    });
    after(() => t.close());

    it('refresh answers a new pair; the old refresh token is spent and the new one works', async () => {
      const user = await t.customer({ pin: null });
      const first = await loginPair(t, user.username, user.password);
      const second = await refresh(t, first.refreshToken);
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.equal(second.body.tokenType, 'Bearer');
      assert.notEqual(second.body.refreshToken, first.refreshToken);
      assert.notEqual(claimsOf(second.body.accessToken).sid, claimsOf(first.accessToken).sid);
      assert.equal((await me(t, second.body.accessToken)).status, 200);
      const third = await refresh(t, second.body.refreshToken);
      assert.equal(third.status, 200, JSON.stringify(third.body));
      assert.equal((await me(t, third.body.accessToken)).status, 200);
    });

    it('a spent refresh token revokes the whole family: every token of that login dies', async () => {
      const user = await t.customer({ pin: null });
      const first = await loginPair(t, user.username, user.password);
      const other = await loginPair(t, user.username, user.password);
      const second = (await refresh(t, first.refreshToken)).body;
      const third = (await refresh(t, second.refreshToken)).body;
      assert.equal((await me(t, third.accessToken)).status, 200);

      // A thief replays the first refresh token.
      assertProblem(await refresh(t, first.refreshToken), 401, 'UNAUTHENTICATED');

      // Every generation of that login is dead, access and refresh alike...
      for (const token of [first.accessToken, second.accessToken, third.accessToken]) {
        assertProblem(await me(t, token), 401, 'UNAUTHENTICATED');
      }
      assertProblem(await refresh(t, third.refreshToken), 401, 'UNAUTHENTICATED');
      // ...but a separate login of the same user is not part of the family.
      assert.equal((await me(t, other.accessToken)).status, 200);
      assert.equal((await refresh(t, other.refreshToken)).status, 200);

      const events = await auditEvents(t, 'auth.refresh_reused');
      const mine = events.filter((event) => event.target === `user:${user.id}`);
      assert.equal(mine.length, 1);
      assert.equal(mine[0]?.outcome, 'denied');
      const rows = await t.runtime.database.db
        .selectFrom('sessions')
        .select(['revoked_at', 'revoked_reason'])
        .where('family_id', '=', String(claimsOf(first.accessToken).sid))
        .execute();
      assert.equal(rows.length, 3);
      assert.ok(
        rows.every((row) => row.revoked_at !== null && row.revoked_reason === 'refresh_reused'),
      );
    });

    it('two parallel refreshes with one token: at most one wins, and the family dies', async () => {
      const user = await t.customer({ pin: null });
      const pair = await loginPair(t, user.username, user.password);
      const answers = await Promise.all([
        refresh(t, pair.refreshToken),
        refresh(t, pair.refreshToken),
      ]);
      const statuses = answers.map((answer) => answer.status).sort();
      assert.deepEqual(statuses, [200, 401]);
      const winner = answers.find((answer) => answer.status === 200);
      assert.ok(winner !== undefined);
      // The loser's replay counts as reuse, so even the winner's new tokens are revoked.
      assertProblem(await me(t, winner.body.accessToken), 401, 'UNAUTHENTICATED');
    });

    it("logout answers 204 and that login's access and refresh tokens stop working at once", async () => {
      const user = await t.customer({ pin: null });
      const pair = await loginPair(t, user.username, user.password);
      const rotated = (await refresh(t, pair.refreshToken)).body;
      const other = await loginPair(t, user.username, user.password);
      // Warm the guard's cache first, so the test proves eviction, not a cold lookup.
      assert.equal((await me(t, rotated.accessToken)).status, 200);

      const out = await logout(t, rotated.refreshToken);
      assert.equal(out.status, 204, JSON.stringify(out.body));
      assertProblem(await me(t, rotated.accessToken), 401, 'UNAUTHENTICATED');
      // The access token from before the rotation belongs to the same login.
      assertProblem(await me(t, pair.accessToken), 401, 'UNAUTHENTICATED');
      assertProblem(await refresh(t, rotated.refreshToken), 401, 'UNAUTHENTICATED');
      // Logging out twice is harmless.
      assert.equal((await logout(t, rotated.refreshToken)).status, 204);
      // The user's other login is untouched.
      assert.equal((await me(t, other.accessToken)).status, 200);
      const events = await auditEvents(t, 'auth.logout');
      assert.ok(
        events.some((event) => event.target === `user:${user.id}` && event.outcome === 'success'),
      );
    });

    it('sign out everywhere ends every session of the caller, and only theirs', async () => {
      const user = await t.customer({ pin: null });
      const other = await t.customer({ pin: null });
      const first = await loginPair(t, user.username, user.password);
      const second = await loginPair(t, user.username, user.password);
      assert.equal((await me(t, second.accessToken)).status, 200);
      const ended = await t.request('POST', '/api/v1/me/sessions/end-all', {
        token: first.accessToken,
      });
      assert.equal(ended.status, 204);
      for (const token of [first.accessToken, second.accessToken, user.token]) {
        assertProblem(await me(t, token), 401, 'UNAUTHENTICATED');
      }
      assertProblem(await refresh(t, second.refreshToken), 401, 'UNAUTHENTICATED');
      // Another customer's sessions are untouched.
      assert.equal((await me(t, other.token)).status, 200);
      // Without a token there is nothing to end.
      assert.equal((await t.request('POST', '/api/v1/me/sessions/end-all')).status, 401);
      const events = await auditEvents(t, 'auth.logout');
      assert.ok(events.some((e) => e.target === `user:${user.id}`));
    });

    it('another customer cannot refresh or log out a session with a made-up or own token', async () => {
      const alice = await t.customer({ pin: null });
      const bob = await t.customer({ pin: null });
      const alicePair = await loginPair(t, alice.username, alice.password);
      const bobPair = await loginPair(t, bob.username, bob.password);
      for (const madeUp of ['A'.repeat(43), `${alicePair.refreshToken.slice(0, -1)}x`, 'x']) {
        assertProblem(await logout(t, madeUp), 401, 'UNAUTHENTICATED');
        assertProblem(await refresh(t, madeUp), 401, 'UNAUTHENTICATED');
      }
      // Bob's own refresh token only ever acts on Bob's login.
      assert.equal((await logout(t, bobPair.refreshToken)).status, 204);
      assert.equal((await me(t, alicePair.accessToken)).status, 200);
      const again = await refresh(t, alicePair.refreshToken);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(claimsOf(again.body.accessToken).sub, alice.id);
    });

    it("an access token cannot borrow another user's session id", async () => {
      const alice = await t.customer({ pin: null });
      const bob = await t.customer({ pin: null });
      const bobPair = await loginPair(t, bob.username, bob.password);
      // Alice's session is live, but it is not Bob's: the guard checks the session owner.
      const { SignJWT } = await import('jose');
      const { secrets, config } = t.runtime;
      const forged = await new SignJWT({ sid: claimsOf(alice.token).sid, roles: ['customer'] })
        .setProtectedHeader({ alg: 'EdDSA', kid: secrets.signingKey.kid, typ: 'at+jwt' })
        .setIssuer(config.jwtIssuer)
        .setAudience(config.jwtAudience)
        .setSubject(bob.id)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(secrets.signingKey.privateKey);
      assertProblem(await me(t, forged), 401, 'UNAUTHENTICATED');
      assert.equal((await me(t, bobPair.accessToken)).status, 200);
    });

    it('refuses malformed refresh bodies with 400 VALIDATION_FAILED', async () => {
      for (const body of [
        {},
        { refreshToken: '' },
        { refreshToken: 42 },
        { refreshToken: 'a b' },
      ]) {
        assertProblem(
          await t.request('POST', '/api/v1/auth/refresh', { body }),
          400,
          'VALIDATION_FAILED',
        );
      }
    });

    it('a refresh token past its expiry is refused', async () => {
      const user = await t.customer({ pin: null });
      const pair = await loginPair(t, user.username, user.password);
      await t.runtime.database.db
        .updateTable('sessions')
        .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
        .where('id', '=', String(claimsOf(pair.accessToken).sid))
        .execute();
      assertProblem(await refresh(t, pair.refreshToken), 401, 'UNAUTHENTICATED');
    });
  });
}

interface Instance {
  runtime: Runtime;
  app: App;
}

async function instance(env: Record<string, string>): Promise<Instance> {
  const runtime = await openRuntime(env);
  const app = await buildApp(runtime);
  await app.ready();
  return { runtime, app };
}

async function meOn(instance: Instance, token: string): Promise<number> {
  const response = await instance.app.inject({
    method: 'GET',
    url: '/api/v1/me',
    headers: { authorization: `Bearer ${token}` },
  });
  return response.statusCode;
}

if (ENGINES.includes('postgres')) {
  describe('sessions across processes [postgres + redis]', () => {
    let t: TestApp;
    const extra: Instance[] = [];
    // A long cache lifetime: only the Redis message can make the second instance notice.
    const env = { ...QUIET, SESSION_CACHE_TTL_MS: '60000' };
    before(async () => {
      t = await createTestApp('postgres', { ...env, REDIS_URL });
    });
    after(async () => {
      for (const { app, runtime } of extra) {
        await app.close();
        await runtime.database.close();
      }
      await t.close();
    });

    it('a logout on instance A is refused on instance B at once (Redis eviction)', async () => {
      const b = await instance({ ...t.database.env, ...env, REDIS_URL });
      extra.push(b);
      const user = await t.customer({ pin: null });
      const pair = await loginPair(t, user.username, DEFAULT_PASSWORD);
      assert.equal(await meOn(b, pair.accessToken), 200, 'B caches the live session');
      assert.equal((await logout(t, pair.refreshToken)).status, 204);
      assert.ok(
        await eventually(async () => (await meOn(b, pair.accessToken)) === 401, 2000),
        'instance B still accepts a logged-out token',
      );
    });

    it('a password change on A ends the other sessions on B too', async () => {
      const b = await instance({ ...t.database.env, ...env, REDIS_URL });
      extra.push(b);
      const user = await t.customer({ pin: null });
      const keep = await loginPair(t, user.username, DEFAULT_PASSWORD);
      const other = await loginPair(t, user.username, DEFAULT_PASSWORD);
      assert.equal(await meOn(b, other.accessToken), 200);
      const change = await t.request('POST', '/api/v1/me/password', {
        token: keep.accessToken,
        body: { currentPassword: DEFAULT_PASSWORD, newPassword: 'a brand new passphrase 42' },
      });
      assert.equal(change.status, 204, JSON.stringify(change.body));
      assert.ok(await eventually(async () => (await meOn(b, other.accessToken)) === 401, 2000));
      assert.equal(await meOn(b, keep.accessToken), 200);
    });

    it('control: without Redis, B keeps its cached answer (why the channel is needed)', async () => {
      const a = await instance({ ...t.database.env, ...env });
      const b = await instance({ ...t.database.env, ...env });
      extra.push(a, b);
      const user = await t.customer({ pin: null });
      const login = await a.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: user.username, password: DEFAULT_PASSWORD },
      });
      const pair = login.json() as { accessToken: string; refreshToken: string };
      assert.equal(await meOn(b, pair.accessToken), 200);
      const out = await a.app.inject({
        method: 'POST',
        url: '/api/v1/auth/logout',
        payload: { refreshToken: pair.refreshToken },
      });
      assert.equal(out.statusCode, 204);
      assert.equal(await meOn(a, pair.accessToken), 401, 'A evicts at once');
      assert.equal(await meOn(b, pair.accessToken), 200, 'B trusts its cache until it expires');
    });
  });
}
