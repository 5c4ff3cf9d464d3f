import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { CorebankError } from '../src/errors.ts';
import { metricsAccess } from '../src/http/hardening.ts';
import {
  createTestApp,
  createTestDatabase,
  DEFAULT_PASSWORD,
  ENGINES,
  type TestApp,
  type TestDatabase,
} from './support/harness.ts';
import { childEnv, freePort, ProcessGroup } from './support/process.ts';
import { totpCode } from './support/staff.ts';

/**
 * Security review, round two (issue #10): caching, audit encoding, operations endpoints,
 * secrets in logs and weak input. Each test failed before the fix it names.
 */

for (const engine of ENGINES) {
  describe(`security hardening [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { METRICS_TOKEN: 'm'.repeat(40) });
    });
    after(async () => t.close());

    it('#5: tokens, secrets, the user and accounts are sent with Cache-Control: no-store', async () => {
      const { user, account } = await t.fundedCustomer('5.00');
      const login = await t.request<{ refreshToken: string }>('POST', '/api/v1/auth/login', {
        body: { username: user.username, password: DEFAULT_PASSWORD },
      });
      const refresh = await t.request('POST', '/api/v1/auth/refresh', {
        body: { refreshToken: login.body.refreshToken },
      });
      const me = await t.request('GET', '/api/v1/me', { token: user.token });
      const enrol = await t.request<{ secret: string }>('POST', '/api/v1/me/mfa/enrol', {
        token: user.token,
        body: { password: DEFAULT_PASSWORD },
      });
      const confirm = await t.request('POST', '/api/v1/me/mfa/confirm', {
        token: user.token,
        body: { code: totpCode(enrol.body.secret) },
      });
      const accounts = await t.request('GET', '/api/v1/accounts', { token: user.token });
      const one = await t.request('GET', `/api/v1/accounts/${account}`, { token: user.token });
      const history = await t.request('GET', `/api/v1/accounts/${account}/transactions`, {
        token: user.token,
      });
      const failed = await t.request('POST', '/api/v1/auth/login', {
        body: { username: user.username, password: 'wrong password, surely' },
      });
      for (const [name, response, status] of [
        ['login', login, 200],
        ['refresh', refresh, 200],
        ['me', me, 200],
        ['mfa enrol', enrol, 200],
        ['mfa confirm', confirm, 200],
        ['accounts', accounts, 200],
        ['account', one, 200],
        ['transactions', history, 200],
        ['failed login', failed, 401],
      ] as const) {
        assert.equal(response.status, status, `${name}: ${JSON.stringify(response.body)}`);
        assert.equal(response.headers['cache-control'], 'no-store', name);
      }
      // The JWKS stays cacheable: it is public and verifiers should cache it.
      const jwks = await t.request('GET', '/.well-known/jwks.json');
      assert.equal(jwks.headers['cache-control'], 'public, max-age=300');
    });

    it('#12: registrations are audited; control characters never reach an audit row raw', async () => {
      const db = t.runtime.database.db;
      const name = t.uniqueName('reg');
      const registered = await t.request<{ id: string }>('POST', '/api/v1/auth/register', {
        body: {
          username: name,
          password: DEFAULT_PASSWORD,
          fullName: 'Audit Me',
          email: `${name}@example.com`,
        },
      });
      assert.equal(registered.status, 201);
      const created = await db
        .selectFrom('audit_events')
        .select(['action', 'target', 'outcome', 'ip'])
        .where('target', '=', `user:${registered.body.id}`)
        .where('action', '=', 'user.created')
        .execute();
      assert.deepEqual(
        created.map((row) => [row.action, row.outcome]),
        [['user.created', 'success']],
      );
      assert.equal(created[0]?.ip, '127.0.0.1');

      const evil = `victim\nFAKE audit line\u001b[31mred\u0085end`;
      const login = await t.request('POST', '/api/v1/auth/login', {
        body: { username: evil, password: 'not the password at all' },
      });
      assert.equal(login.status, 401);
      const rows = await db
        .selectFrom('audit_events')
        .select(['target'])
        .where('action', '=', 'auth.login')
        .where('target', 'like', 'username:victim%')
        .execute();
      assert.equal(rows.length, 1);
      const target = rows[0]?.target ?? '';
      // biome-ignore lint/suspicious/noControlCharactersInRegex: none may be left.
      assert.doesNotMatch(target, /[\u0000-\u001f\u007f-\u009f]/);
      assert.equal(target, 'username:victim\\u000afake audit line\\u001b[31mred\\u0085end');
    });

    it('#13: /metrics needs the METRICS_TOKEN bearer token', async () => {
      const anonymous = await t.request('GET', '/metrics');
      assert.equal(anonymous.status, 401);
      assert.doesNotMatch(String(anonymous.body), /nodejs_version_info/);
      const wrong = await t.request('GET', '/metrics', { token: 'n'.repeat(40) });
      assert.equal(wrong.status, 401);
      const right = await t.request('GET', '/metrics', { token: 'm'.repeat(40) });
      assert.equal(right.status, 200);
      assert.match(String(right.body), /corebank_http_requests_total/);
    });

    it('#15: common PINs, invalid UTF-8 and bidi controls are refused with 400', async () => {
      const user = await t.customer({ pin: null });
      for (const pin of ['0000', '1111', '1234', '4321', '2580', '1212', '123456', '654321']) {
        const response = await t.request('PUT', '/api/v1/me/pin', {
          token: user.token,
          body: { password: DEFAULT_PASSWORD, pin },
        });
        assert.equal(response.status, 400, pin);
        assert.equal((response.body as { code: string }).code, 'VALIDATION_FAILED');
        assert.equal((response.body as { field: string }).field, 'pin');
      }
      const fine = await t.request('PUT', '/api/v1/me/pin', {
        token: user.token,
        body: { password: DEFAULT_PASSWORD, pin: '8351' },
      });
      assert.equal(fine.status, 204);

      const name = t.uniqueName('utf');
      const json = `{"username":"${name}","password":"${DEFAULT_PASSWORD}","fullName":"AB","email":"${name}@example.com"}`;
      const bytes = Buffer.from(json, 'utf8');
      // Replace "AB" with an invalid UTF-8 sequence (a lone continuation byte and 0xFF).
      const at = bytes.indexOf('"AB"') + 1;
      bytes[at] = 0x80;
      bytes[at + 1] = 0xff;
      const invalid = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        headers: { 'content-type': 'application/json' },
        payload: bytes,
      });
      assert.equal(invalid.statusCode, 400, invalid.body);
      assert.equal(JSON.parse(invalid.body).code, 'VALIDATION_FAILED');
      const users = await t.runtime.database.db
        .selectFrom('users')
        .select('id')
        .where('username', '=', name)
        .execute();
      assert.equal(users.length, 0);

      const bidiName = t.uniqueName('bidi');
      const bidi = await t.request('POST', '/api/v1/auth/register', {
        body: {
          username: bidiName,
          password: DEFAULT_PASSWORD,
          fullName: 'Mallory \u202Eyeknom\u202C',
          email: `${bidiName}@example.com`,
        },
      });
      assert.equal(bidi.status, 400);
      assert.equal((bidi.body as { field: string }).field, 'fullName');
      const nickname = await t.request('POST', '/api/v1/accounts', {
        token: user.token,
        body: { nickname: 'rent \u2067lanigiro\u2069' },
      });
      assert.equal(nickname.status, 400);
      assert.equal((nickname.body as { field: string }).field, 'nickname');
    });
  });
}

describe('operations endpoints in production (#13)', () => {
  it('without METRICS_TOKEN, /metrics answers 404 and /docs is off by default', async () => {
    const config = loadConfig({ NODE_ENV: 'production' });
    assert.equal(config.security.docsPublic, false);
    assert.equal(loadConfig({ NODE_ENV: 'development' }).security.docsPublic, true);
    assert.equal(
      loadConfig({ NODE_ENV: 'production', DOCS_PUBLIC: 'on' }).security.docsPublic,
      true,
    );
    await assert.rejects(
      metricsAccess(config)({ headers: {} } as never),
      (error: unknown) => error instanceof CorebankError && error.code === 'NOT_FOUND',
    );
  });

  it('with DOCS_PUBLIC=off, /docs and the OpenAPI document are not served', async () => {
    const t = await createTestApp('sqlite', { DOCS_PUBLIC: 'off' });
    try {
      assert.equal((await t.request('GET', '/docs/')).status, 404);
      assert.equal((await t.request('GET', '/api/v1/openapi.json')).status, 404);
    } finally {
      await t.close();
    }
  });
});

describe('secrets in query strings are not logged (#14)', () => {
  const processes = new ProcessGroup();
  let database: TestDatabase | undefined;
  after(async () => {
    await processes.killAll();
    await database?.dispose();
  });

  it('a request with ?access_token= is logged without the token', async () => {
    database = await createTestDatabase('sqlite');
    const server = await processes.startServer(
      childEnv(database.env, {
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        RATE_LIMITS: 'off',
      }),
    );
    const secret = 'eyJhbGciOiJFZERTQSJ9.leaked-token-value';
    await fetch(`${server.baseUrl}/api/v1/me?access_token=${secret}&refresh_token=${secret}&x=1`);
    await fetch(`${server.baseUrl}/health/live?Token=${secret}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const urls = server
      .logLines()
      .map((line) => (line.req as { url?: string } | undefined)?.url)
      .filter((url) => url !== undefined);
    assert.ok(urls.includes('/api/v1/me?access_token=[redacted]&refresh_token=[redacted]&x=1'));
    assert.ok(urls.includes('/health/live?Token=[redacted]'));
    assert.ok(!server.stdout.includes('leaked-token-value'), 'the token is nowhere in the log');
  });
});
