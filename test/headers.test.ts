import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';
import { CSP_HEADER } from '../src/http/security-headers.ts';
import { createTestApp, ENGINES, type TestApp } from './support/harness.ts';

/**
 * Security headers on every kind of response, a strict CSP that still lets /docs render,
 * and CORS closed unless CORS_ORIGINS opens it to exact origins.
 */

type Headers = Record<string, string | string[] | number | undefined>;

function assertSecurityHeaders(headers: Headers, where: string): void {
  const csp = String(headers['content-security-policy']);
  assert.equal(csp, CSP_HEADER, where);
  assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), where);
  for (const directive of [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
  ]) {
    assert.ok(csp.split(';').includes(directive), `${where}: CSP lacks ${directive}`);
  }
  const hsts = String(headers['strict-transport-security']);
  const maxAge = Number(/max-age=(\d+)/.exec(hsts)?.[1]);
  assert.ok(maxAge >= 31_536_000, `${where}: HSTS max-age ${maxAge}`);
  assert.match(hsts, /includeSubDomains/, where);
  assert.equal(headers['x-frame-options'], 'DENY', where);
  assert.equal(headers['x-content-type-options'], 'nosniff', where);
  assert.equal(headers['referrer-policy'], 'no-referrer', where);
  assert.equal(headers['cross-origin-opener-policy'], 'same-origin', where);
  assert.equal(headers['cross-origin-resource-policy'], 'same-origin', where);
  // The rest of what helmet used to send, now from the precomputed set (issue #17).
  assert.equal(headers['origin-agent-cluster'], '?1', where);
  assert.equal(headers['x-dns-prefetch-control'], 'off', where);
  assert.equal(headers['x-download-options'], 'noopen', where);
  assert.equal(headers['x-permitted-cross-domain-policies'], 'none', where);
  assert.equal(headers['x-xss-protection'], '0', where);
  assert.equal(headers['x-powered-by'], undefined, where);
  assert.equal(headers['access-control-allow-origin'], undefined, where);
}

for (const engine of ENGINES) {
  describe(`security headers [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { RATE_LIMITS: 'on', RATE_LIMIT_LOGIN_PER_MINUTE: '1' });
    });
    after(() => t.close());

    it('are on successes, errors, 404s and 429s alike', async () => {
      const user = await t.customer({ pin: null });
      const cases: Array<[string, Promise<{ status: number; headers: Headers }>, number]> = [
        ['health', t.request('GET', '/health/live'), 200],
        ['me', t.request('GET', '/api/v1/me', { token: user.token }), 200],
        ['openapi', t.request('GET', '/api/v1/openapi.json'), 200],
        ['no token', t.request('GET', '/api/v1/me'), 401],
        [
          'invalid body',
          t.request('POST', '/api/v1/auth/register', { body: { username: 1 } }),
          400,
        ],
        ['unknown route', t.request('GET', '/api/v1/nothing-here'), 404],
        ['unknown method', t.request('DELETE', '/api/v1/me', { token: user.token }), 404],
        [
          'rate limited',
          t.request('POST', '/api/v1/auth/login', {
            body: { username: user.username, password: user.password },
          }),
          429,
        ],
      ];
      for (const [where, pending, status] of cases) {
        const response = await pending;
        assert.equal(response.status, status, where);
        assertSecurityHeaders(response.headers, where);
      }
    });
  });
}

describe('the /docs page under the strict CSP', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp(ENGINES[0] ?? 'sqlite');
  });
  after(() => t.close());

  it('renders: its HTML and every asset it loads answer 200 from our own origin', async () => {
    const page = await t.request('GET', '/docs');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assertSecurityHeaders(page.headers, '/docs');
    const html = String(page.body);
    // Nothing inline, which the CSP (no 'unsafe-inline') would block.
    assert.ok(!/<style\b/i.test(html), 'inline <style>');
    assert.ok(!/\sstyle\s*=/i.test(html), 'inline style attribute');
    assert.ok(!/\son[a-z]+\s*=/i.test(html), 'inline event handler');
    for (const script of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
      assert.match(script[1] ?? '', /\bsrc=/, 'every script is a file');
      assert.equal((script[2] ?? '').trim(), '', 'inline script body');
    }
    const base = new URL('http://corebank.test/docs');
    const refs = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
    assert.ok(refs.length >= 5, `few assets: ${refs.join(', ')}`);
    for (const ref of refs) {
      const url = new URL(ref, base);
      // 'self' in script-src / style-src / img-src allows exactly same-origin loads.
      assert.equal(url.origin, base.origin, `${ref} is not same-origin`);
      const asset = await t.request('GET', url.pathname);
      assert.equal(asset.status, 200, `${url.pathname}`);
      assertSecurityHeaders(asset.headers, url.pathname);
    }
    // The initializer fetches the OpenAPI document; connect-src falls back to 'self'.
    const init = await t.request('GET', '/docs/static/swagger-initializer.js');
    assert.equal(init.status, 200);
    const initializer = String(init.body);
    // It loads the document from our own origin, calls no validator service, and draws its
    // logo from a data: URI (allowed by img-src).
    assert.match(initializer, /url: resolveUrl\('\.\/json'\)/);
    assert.match(initializer, /validatorUrl: null/);
    assert.match(initializer, /img\.src = 'data:image\/svg\+xml/);
    const json = await t.request('GET', '/docs/json');
    assert.equal(json.status, 200);
  });
});

describe('CORS', () => {
  it('is closed by default: no Access-Control-Allow-Origin for any origin', async () => {
    const t = await createTestApp(ENGINES[0] ?? 'sqlite');
    try {
      for (const origin of ['https://evil.example', 'http://localhost:3000', 'null']) {
        const simple = await t.request('GET', '/health/live', { headers: { origin } });
        assert.equal(simple.status, 200);
        assert.equal(simple.headers['access-control-allow-origin'], undefined, origin);
        const preflight = await t.app.inject({
          method: 'OPTIONS',
          url: '/api/v1/auth/login',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'content-type',
          },
        });
        assert.equal(preflight.headers['access-control-allow-origin'], undefined, origin);
        assert.equal(preflight.headers['access-control-allow-credentials'], undefined);
      }
    } finally {
      await t.close();
    }
  });

  it('CORS_ORIGINS opens it to exactly the listed origins', async () => {
    const t = await createTestApp(ENGINES[0] ?? 'sqlite', {
      CORS_ORIGINS: 'https://app.example.com, https://admin.example.com',
    });
    try {
      const allowed = await t.request('GET', '/health/live', {
        headers: { origin: 'https://app.example.com' },
      });
      assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example.com');
      assert.match(String(allowed.headers.vary), /origin/i);
      assert.equal(allowed.headers['access-control-allow-credentials'], undefined);
      const preflight = await t.app.inject({
        method: 'OPTIONS',
        url: '/api/v1/accounts',
        headers: {
          origin: 'https://admin.example.com',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type, idempotency-key',
        },
      });
      assert.equal(preflight.statusCode, 204);
      assert.equal(preflight.headers['access-control-allow-origin'], 'https://admin.example.com');
      assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
      assert.match(String(preflight.headers['access-control-allow-headers']), /authorization/);
      // Near misses are not allowed: scheme, port, subdomain and suffix tricks.
      for (const origin of [
        'http://app.example.com',
        'https://app.example.com:8443',
        'https://evil.app.example.com',
        'https://app.example.com.evil.example',
        'https://evil.example',
      ]) {
        const response = await t.request('GET', '/health/live', { headers: { origin } });
        assert.equal(response.headers['access-control-allow-origin'], undefined, origin);
      }
    } finally {
      await t.close();
    }
  });

  it('CORS_ORIGINS accepts only exact origins', () => {
    const base = { NODE_ENV: 'test' };
    assert.deepEqual(loadConfig({ ...base }).corsOrigins, []);
    assert.deepEqual(
      loadConfig({ ...base, CORS_ORIGINS: 'https://a.example,http://b.example:8080' }).corsOrigins,
      ['https://a.example', 'http://b.example:8080'],
    );
    for (const bad of [
      '*',
      'https://a.example/',
      'https://a.example/path',
      'a.example',
      'ftp://a.example',
    ]) {
      assert.throws(() => loadConfig({ ...base, CORS_ORIGINS: bad }), ConfigError, bad);
    }
  });
});
