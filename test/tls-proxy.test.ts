import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';
import { trustProxyOf } from '../src/http/transport.ts';
import { createTestApp, ENGINES, type TestApp } from './support/harness.ts';

/**
 * The optional HTTPS listener (TLS_CERT_FILE, TLS_KEY_FILE) against a real listening server
 * with a certificate made here, and TRUST_PROXY: X-Forwarded-For is ignored unless the
 * hop it came from is a configured proxy.
 */

const engine = ENGINES[0] ?? 'sqlite';

function selfSignedCertificate(): { dir: string; cert: string; key: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { dir, cert, key };
}

function get(
  client: typeof http | typeof https,
  url: string,
  options: https.RequestOptions = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = client.get(url, options, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
      );
    });
    request.on('error', reject);
    request.setTimeout(5000, () => request.destroy(new Error('timed out')));
  });
}

describe('TLS listener', () => {
  it('serves HTTPS with the configured certificate and refuses plain HTTP', async () => {
    const tls = selfSignedCertificate();
    let t: TestApp | undefined;
    try {
      t = await createTestApp(engine, { TLS_CERT_FILE: tls.cert, TLS_KEY_FILE: tls.key });
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = t.app.server.address() as AddressInfo;
      const ca = fs.readFileSync(tls.cert);
      const response = await get(https, `https://127.0.0.1:${port}/health/live`, {
        ca,
        agent: false,
      });
      assert.equal(response.status, 200);
      assert.deepEqual(JSON.parse(response.body), { status: 'ok' });
      assert.match(String(response.headers['strict-transport-security']), /max-age=31536000/);
      // The certificate is verified for real: without trusting it, the client refuses.
      await assert.rejects(get(https, `https://127.0.0.1:${port}/health/live`, { agent: false }));
      // Old protocol versions are refused.
      await assert.rejects(
        get(https, `https://127.0.0.1:${port}/health/live`, {
          ca,
          agent: false,
          maxVersion: 'TLSv1.1',
          minVersion: 'TLSv1',
        }),
      );
      // Plain HTTP to the TLS port gets no HTTP answer.
      const plain = await get(http, `http://127.0.0.1:${port}/health/live`).then(
        (r) => r.status,
        () => 'refused',
      );
      assert.notEqual(plain, 200);
    } finally {
      await t?.close();
      fs.rmSync(tls.dir, { recursive: true, force: true });
    }
  });

  it('needs both files, and readable ones', async () => {
    const base = { NODE_ENV: 'test' };
    assert.equal(loadConfig(base).tls, undefined);
    assert.throws(() => loadConfig({ ...base, TLS_CERT_FILE: '/tmp/x.pem' }), ConfigError);
    assert.throws(() => loadConfig({ ...base, TLS_KEY_FILE: '/tmp/x.pem' }), ConfigError);
    await assert.rejects(
      createTestApp(engine, {
        TLS_CERT_FILE: '/nonexistent/cert.pem',
        TLS_KEY_FILE: '/nonexistent/key.pem',
      }),
      ConfigError,
    );
  });
});

/** Logs in from `remoteAddress` claiming `forwardedFor`; the login limit is 1/min per client. */
async function loginFrom(
  t: TestApp,
  username: string,
  remoteAddress: string,
  forwardedFor: string,
) {
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    remoteAddress,
    headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
    payload: JSON.stringify({ username, password: 'correct horse battery staple' }),
  });
  return response.statusCode;
}

describe('trusted proxies', () => {
  // The per-client login limit makes request.ip observable: a new client address gets a
  // new budget, the same address does not.
  const limits = { RATE_LIMITS: 'on', RATE_LIMIT_LOGIN_PER_MINUTE: '1' };

  it('ignores X-Forwarded-For by default: a client cannot pick its own address', async () => {
    const t = await createTestApp(engine, limits);
    try {
      const username = t.uniqueName('nobody');
      assert.equal(await loginFrom(t, username, '127.0.0.1', '203.0.113.1'), 401);
      assert.equal(await loginFrom(t, username, '127.0.0.1', '203.0.113.2'), 429);
      assert.equal(await loginFrom(t, username, '127.0.0.1', '203.0.113.3'), 429);
    } finally {
      await t.close();
    }
  });

  it('honours X-Forwarded-For from a configured proxy, and only from it', async () => {
    const t = await createTestApp(engine, { ...limits, TRUST_PROXY: 'loopback' });
    try {
      const username = t.uniqueName('nobody');
      // Through the proxy on loopback: each forwarded client has its own budget.
      assert.equal(await loginFrom(t, username, '127.0.0.1', '203.0.113.1'), 401);
      assert.equal(await loginFrom(t, username, '127.0.0.1', '203.0.113.2'), 401);
      assert.equal(await loginFrom(t, username, '127.0.0.1', '203.0.113.1'), 429);
      // A client spoofing the header from outside is not a proxy: its header is ignored,
      // so it keeps its own (real) address and budget whatever it claims.
      assert.equal(await loginFrom(t, username, '198.51.100.9', '203.0.113.50'), 401);
      assert.equal(await loginFrom(t, username, '198.51.100.9', '203.0.113.51'), 429);
    } finally {
      await t.close();
    }
  });

  it('parses TRUST_PROXY strictly', () => {
    const base = { NODE_ENV: 'test' };
    assert.equal(loadConfig(base).trustProxy, false);
    assert.equal(loadConfig({ ...base, TRUST_PROXY: '2' }).trustProxy, 2);
    assert.deepEqual(loadConfig({ ...base, TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy, [
      'loopback',
      '10.0.0.0/8',
    ]);
    for (const bad of ['true', '0', '10.0.0.0/33', 'example.com', '1.2.3']) {
      assert.throws(() => loadConfig({ ...base, TRUST_PROXY: bad }), ConfigError, bad);
    }
    const hops = trustProxyOf({ trustProxy: 1 });
    assert.equal(typeof hops, 'function');
    if (typeof hops === 'function') {
      assert.equal(hops('10.0.0.1', 0), true);
      assert.equal(hops('203.0.113.1', 1), false);
    }
  });
});
