import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, me } from './support/auth-helpers.ts';
import { createTestApp, ENGINES, type TestApp } from './support/harness.ts';

/**
 * The web dashboard's session: login and refresh also set the refresh token as an HttpOnly
 * cookie scoped to /api/v1/auth; refresh and logout accept it instead of a body token, but
 * only with the CSRF header; logout clears it.
 */
const CSRF = { 'x-requested-with': 'corebank' };

function refreshCookieOf(headers: Record<string, unknown>): string {
  const raw = headers['set-cookie'];
  const all = Array.isArray(raw) ? raw : [String(raw ?? '')];
  const found = all.find((cookie: string) => cookie.startsWith('corebank_refresh='));
  assert.ok(found, `a refresh cookie was set: ${JSON.stringify(raw)}`);
  return found;
}

function cookieValue(setCookie: string): string {
  return setCookie.split(';')[0]?.slice('corebank_refresh='.length) ?? '';
}

for (const engine of ENGINES) {
  describe(`web session cookie [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(async () => {
      await t.close();
    });

    async function signIn() {
      const user = await t.customer({ pin: null });
      const response = await t.request<{ refreshToken: string; accessToken: string }>(
        'POST',
        '/api/v1/auth/login',
        { body: { username: user.username, password: user.password } },
      );
      assert.equal(response.status, 200);
      return { response, cookie: refreshCookieOf(response.headers) };
    }

    it('login sets the refresh token as an HttpOnly, Secure, SameSite=Strict cookie', async () => {
      const { response, cookie } = await signIn();
      assert.equal(cookieValue(cookie), response.body.refreshToken);
      assert.match(cookie, /; HttpOnly/i);
      assert.match(cookie, /; Secure/i);
      assert.match(cookie, /; SameSite=Strict/i);
      assert.match(cookie, /; Path=\/api\/v1\/auth(;|$)/);
      assert.match(cookie, /; Max-Age=604800/);
    });

    it('refresh accepts the cookie with the CSRF header and rotates it', async () => {
      const { cookie } = await signIn();
      const refreshed = await t.request<{ accessToken: string; refreshToken: string }>(
        'POST',
        '/api/v1/auth/refresh',
        { body: {}, headers: { ...CSRF, cookie: cookie.split(';')[0] ?? '' } },
      );
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      const next = refreshCookieOf(refreshed.headers);
      assert.equal(cookieValue(next), refreshed.body.refreshToken);
      assert.notEqual(cookieValue(next), cookieValue(cookie));
      assert.equal((await me(t, refreshed.body.accessToken)).status, 200);
    });

    it('refuses a cookie-only refresh or logout without the CSRF header (403)', async () => {
      const { cookie } = await signIn();
      const headers = { cookie: cookie.split(';')[0] ?? '' };
      for (const url of ['/api/v1/auth/refresh', '/api/v1/auth/logout']) {
        assertProblem(await t.request('POST', url, { body: {}, headers }), 403, 'FORBIDDEN');
        const wrong = { ...headers, 'x-requested-with': 'XMLHttpRequest' };
        assertProblem(await t.request('POST', url, { body: {}, headers: wrong }), 403, 'FORBIDDEN');
      }
      // The refused calls spent nothing: the cookie still works with the header.
      const ok = await t.request('POST', '/api/v1/auth/refresh', {
        body: {},
        headers: { ...headers, ...CSRF },
      });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    });

    it('without a body token or cookie, refresh is still 400 VALIDATION_FAILED', async () => {
      assertProblem(
        await t.request('POST', '/api/v1/auth/refresh', { body: {}, headers: CSRF }),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('logout through the cookie ends the session and clears the cookie', async () => {
      const { response, cookie } = await signIn();
      const headers = { ...CSRF, cookie: cookie.split(';')[0] ?? '' };
      const out = await t.request('POST', '/api/v1/auth/logout', { body: {}, headers });
      assert.equal(out.status, 204, JSON.stringify(out.body));
      const cleared = refreshCookieOf(out.headers);
      assert.equal(cookieValue(cleared), '');
      assert.match(cleared, /Expires=Thu, 01 Jan 1970|Max-Age=0/);
      assertProblem(await me(t, response.body.accessToken), 401, 'UNAUTHENTICATED');
      assertProblem(
        await t.request('POST', '/api/v1/auth/refresh', { body: {}, headers }),
        401,
        'UNAUTHENTICATED',
      );
    });
  });
}
