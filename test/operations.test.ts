import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import { createTestApp, ENGINES, type TestApp } from './support/harness.ts';

const CONTRACT_ROUTES: Array<[string, string]> = [
  ['post', '/api/v1/auth/register'],
  ['post', '/api/v1/auth/login'],
  ['get', '/api/v1/me'],
  ['put', '/api/v1/me/pin'],
  ['post', '/api/v1/accounts'],
  ['get', '/api/v1/accounts'],
  ['get', '/api/v1/accounts/{accountNumber}'],
  ['post', '/api/v1/accounts/{accountNumber}/deposits'],
  ['post', '/api/v1/accounts/{accountNumber}/withdrawals'],
  ['post', '/api/v1/accounts/{accountNumber}/transfers'],
  ['get', '/api/v1/accounts/{accountNumber}/transactions'],
  ['get', '/health/live'],
  ['get', '/health/ready'],
];

for (const engine of ENGINES) {
  describe(`operations [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    it('answers liveness and readiness, naming the engine', async () => {
      const live = await t.request('GET', '/health/live');
      assert.equal(live.status, 200);
      assert.deepEqual(live.body, { status: 'ok' });
      const ready = await t.request('GET', '/health/ready');
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { status: 'ok', database: engine });
    });

    it('publishes an OpenAPI 3.1 document with every contract route and the problem schema', async () => {
      const doc = await t.request<{
        openapi: string;
        paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
        components: { schemas: Record<string, unknown> };
      }>('GET', '/api/v1/openapi.json');
      assert.equal(doc.status, 200);
      assert.equal(doc.body.openapi, '3.1.0');
      for (const [method, path] of CONTRACT_ROUTES) {
        assert.ok(doc.body.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
      }
      assert.ok(doc.body.components.schemas.Problem, 'Problem schema is a component');
      const transfer = doc.body.paths['/api/v1/accounts/{accountNumber}/transfers']?.post;
      assert.ok(transfer?.responses['201'] && transfer.responses['422']);
      const docs = await t.request('GET', '/docs/');
      assert.equal(docs.status, 200);
      assert.match(String(docs.headers['content-type']), /text\/html/);
    });

    it('exports Prometheus metrics labelled by route pattern, never by account number', async () => {
      const { user, account } = await t.fundedCustomer('10.00');
      await t.request('GET', `/api/v1/accounts/${account}`, { token: user.token });
      const metrics = await t.request('GET', '/metrics');
      assert.equal(metrics.status, 200);
      assert.match(String(metrics.headers['content-type']), /text\/plain/);
      const text = String(metrics.body);
      assert.match(
        text,
        /corebank_http_requests_total\{method="GET",route="\/api\/v1\/accounts\/:accountNumber",status="200"\} 1/,
      );
      assert.ok(!text.includes(account), 'no account number appears in any label');
      assert.match(text, /process_cpu_user_seconds_total/);
    });

    it('accepts the bearer scheme name in any case, as HTTP requires', async () => {
      const user = await t.customer({ pin: null });
      for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
        const me = await t.request('GET', '/api/v1/me', {
          headers: { authorization: `${scheme} ${user.token}` },
        });
        assert.equal(me.status, 200, scheme);
      }
      const wrong = await t.request('GET', '/api/v1/me', {
        headers: { authorization: `Basic ${user.token}` },
      });
      assert.equal(wrong.status, 401);
    });

    it('answers a malformed URL with a problem document carrying the security headers', async () => {
      const response = await t.request('GET', '/api/v1/accounts/%zz');
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'VALIDATION_FAILED');
      assert.match(String(response.headers['content-security-policy']), /default-src 'self'/);
      assert.equal(response.headers['x-content-type-options'], 'nosniff');
      assert.equal(response.headers['x-frame-options'], 'DENY');
      assert.match(String(response.headers['strict-transport-security']), /max-age=31536000/);
    });

    it('a verified token stays subject to expiry and logout even when remembered', async () => {
      const username = t.uniqueName('cache');
      await t.request('POST', '/api/v1/auth/register', {
        body: {
          username,
          password: 'a sturdy passphrase for caching',
          fullName: 'Cache Test',
          email: `${username}@example.com`,
        },
      });
      const login = await t.request<{ accessToken: string; refreshToken: string }>(
        'POST',
        '/api/v1/auth/login',
        { body: { username, password: 'a sturdy passphrase for caching' } },
      );
      const token = login.body.accessToken;
      // Used twice: the second answer comes from the verified-token cache.
      assert.equal((await t.request('GET', '/api/v1/me', { token })).status, 200);
      assert.equal((await t.request('GET', '/api/v1/me', { token })).status, 200);
      mock.timers.enable({ apis: ['Date'], now: Date.now() + 16 * 60 * 1000 });
      try {
        const expired = await t.request('GET', '/api/v1/me', { token });
        assert.equal(expired.status, 401);
        assert.match(String(expired.body.detail), /expired/);
      } finally {
        mock.timers.reset();
      }
      // A second session: remembered, then logged out, then refused at once.
      const again = await t.request<{ accessToken: string; refreshToken: string }>(
        'POST',
        '/api/v1/auth/login',
        { body: { username, password: 'a sturdy passphrase for caching' } },
      );
      const live = again.body.accessToken;
      assert.equal((await t.request('GET', '/api/v1/me', { token: live })).status, 200);
      const logout = await t.request('POST', '/api/v1/auth/logout', {
        body: { refreshToken: again.body.refreshToken },
      });
      assert.equal(logout.status, 204);
      assert.equal((await t.request('GET', '/api/v1/me', { token: live })).status, 401);
    });

    it('echoes a well-formed caller request id and replaces a malformed one', async () => {
      const given = await t.request('GET', '/health/live', {
        headers: { 'x-request-id': 'abc-123' },
      });
      assert.equal(given.headers['x-request-id'], 'abc-123');
      const bad = await t.request('GET', '/health/live', {
        headers: { 'x-request-id': 'bad id with spaces' },
      });
      assert.notEqual(bad.headers['x-request-id'], 'bad id with spaces');
      assert.match(String(bad.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    });
  });
}
