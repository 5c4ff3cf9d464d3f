import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { buildApp } from '../src/app.ts';
import { loadSecrets } from '../src/auth/secrets.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { openRuntime } from '../src/runtime.ts';
import { claimsOf, headerOf, loginPair } from './support/auth-helpers.ts';
import { createTestApp, DEFAULT_PASSWORD, ENGINES, type TestApp } from './support/harness.ts';
import { childEnv, PROJECT_ROOT } from './support/process.ts';

/**
 * Signing keys: the JWKS document, rotation with `keys rotate` (old tokens keep working,
 * nobody is logged out), previous keys from JWT_PREVIOUS_PUBLIC_KEYS, unknown kids refused.
 */
interface Jwks {
  keys: Array<Record<string, unknown>>;
}

for (const engine of ENGINES) {
  describe(`signing keys [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { RATE_LIMITS: 'off' });
    });
    after(() => t.close());

    it('publishes the public signing key as a JWKS document (no private member)', async () => {
      const response = await t.request<Jwks>('GET', '/.well-known/jwks.json');
      assert.equal(response.status, 200);
      assert.equal(response.body.keys.length, 1);
      const [key] = response.body.keys;
      assert.deepEqual(Object.keys(key ?? {}).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      assert.deepEqual(
        { ...key, x: undefined },
        {
          kid: t.runtime.secrets.signingKey.kid,
          kty: 'OKP',
          crv: 'Ed25519',
          alg: 'EdDSA',
          use: 'sig',
          x: undefined,
        },
      );
      const expected = t.runtime.secrets.signingKey.publicKey.export({ format: 'jwk' });
      assert.equal(key?.x, expected.x);
    });

    it('keys rotate: old tokens still verify, new ones carry the new kid, both are published', async () => {
      const user = await t.customer({ pin: null });
      const before = await loginPair(t, user.username, DEFAULT_PASSWORD);
      const oldKid = t.runtime.secrets.signingKey.kid;
      assert.equal(headerOf(before.accessToken).kid, oldKid);

      const run = spawnSync(
        process.execPath,
        [path.join(PROJECT_ROOT, 'src', 'cli.ts'), 'keys', 'rotate'],
        { env: childEnv(t.database.env), encoding: 'utf8', timeout: 60_000 },
      );
      assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, new RegExp(`${oldKid} still verifies`));

      // A restarted server on the same DATA_DIR and database.
      const runtime = await openRuntime({ ...t.database.env, RATE_LIMITS: 'off' });
      const app = await buildApp(runtime);
      try {
        const newKid = runtime.secrets.signingKey.kid;
        assert.notEqual(newKid, oldKid);
        const meOld = await app.inject({
          method: 'GET',
          url: '/api/v1/me',
          headers: { authorization: `Bearer ${before.accessToken}` },
        });
        assert.equal(meOld.statusCode, 200, meOld.body);
        const login = await app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: user.username, password: DEFAULT_PASSWORD },
        });
        const fresh = login.json() as { accessToken: string };
        assert.equal(headerOf(fresh.accessToken).kid, newKid);
        const jwks = (
          await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
        ).json() as Jwks;
        assert.deepEqual(
          jwks.keys.map((key) => key.kid),
          [newKid, oldKid],
        );
      } finally {
        await app.close();
        await runtime.database.close();
      }
    });

    it('refuses a token whose kid is unknown, even with a live session and a valid signature', async () => {
      const user = await t.customer({ pin: null });
      const { privateKey } = crypto.generateKeyPairSync('ed25519');
      const { config } = t.runtime;
      for (const kid of ['not-a-known-key', t.runtime.secrets.signingKey.kid]) {
        const token = await new SignJWT({ sid: claimsOf(user.token).sid, roles: ['customer'] })
          .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
          .setIssuer(config.jwtIssuer)
          .setAudience(config.jwtAudience)
          .setSubject(user.id)
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(privateKey);
        const response = await t.request('GET', '/api/v1/me', { token });
        assert.equal(response.status, 401, kid);
        assert.equal(response.body.code, 'UNAUTHENTICATED');
      }
    });
  });
}

describe('JWT_PREVIOUS_PUBLIC_KEYS', () => {
  const current = crypto.generateKeyPairSync('ed25519');
  const previous = crypto.generateKeyPairSync('ed25519');
  const base = {
    NODE_ENV: 'production',
    JWT_PRIVATE_KEY: current.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    JWT_KEY_ID: 'k2',
    PIN_PEPPER: crypto.randomBytes(32).toString('base64'),
    DATA_DIR: '/nonexistent-corebank-test',
  };
  const previousPem = previous.publicKey.export({ type: 'spki', format: 'pem' }).toString();

  it('accepts tokens of the listed previous keys and publishes them', () => {
    const secrets = loadSecrets(
      loadConfig({
        ...base,
        JWT_PREVIOUS_PUBLIC_KEYS: JSON.stringify([{ kid: 'k1', pem: previousPem }]),
      }),
    );
    assert.deepEqual([...secrets.verificationKeys.keys()], ['k2', 'k1']);
    assert.equal(secrets.signingKey.kid, 'k2');
  });

  it('refuses malformed lists, non-Ed25519 keys and duplicate kids at start-up', () => {
    const rsa = crypto
      .generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    for (const value of [
      'not json',
      '{"kid":"k1"}',
      JSON.stringify([{ kid: 'k1' }]),
      JSON.stringify([{ kid: 'k1', pem: 'garbage' }]),
      JSON.stringify([{ kid: 'k1', pem: rsa }]),
      JSON.stringify([{ kid: 'k2', pem: previousPem }]),
      JSON.stringify([{ kid: 'bad kid!', pem: previousPem }]),
    ]) {
      assert.throws(
        () => loadSecrets(loadConfig({ ...base, JWT_PREVIOUS_PUBLIC_KEYS: value })),
        ConfigError,
        value,
      );
    }
  });
});
