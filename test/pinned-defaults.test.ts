import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import { TokenService } from '../src/auth/tokens.ts';
import { isCorebankError } from '../src/errors.ts';
import { createTestApp, type TestApp } from './support/harness.ts';

/**
 * Defaults the README documents, pinned as numbers here rather than read back from the
 * configuration: a test that derives its expectation from the code under test passes
 * whatever the code says.
 */

/** README: "BODY_LIMIT_BYTES, default 16384". */
const DOCUMENTED_BODY_LIMIT_BYTES = 16_384;
/** README: "ACCESS_TOKEN_TTL_SECONDS, default 900". */
const DOCUMENTED_ACCESS_TOKEN_TTL_SECONDS = 900;

describe('documented defaults', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp('sqlite');
  });
  after(() => t.close());

  it('accepts a body of exactly 16384 bytes and answers 413 at 16385', async () => {
    const { user, account } = await t.fundedCustomer('10.00');
    const json = '{"amount":"1.00"}';
    const sized = (bytes: number) => json + ' '.repeat(bytes - json.length);
    const send = (rawBody: string) =>
      t.request('POST', `/api/v1/accounts/${account}/deposits`, {
        token: user.token,
        rawBody,
        headers: { 'content-type': 'application/json' },
      });
    const atLimit = await send(sized(DOCUMENTED_BODY_LIMIT_BYTES));
    assert.equal(atLimit.status, 201, JSON.stringify(atLimit.body));
    const over = await send(sized(DOCUMENTED_BODY_LIMIT_BYTES + 1));
    assert.equal(over.status, 413, JSON.stringify(over.body));
    assert.equal(over.body.code, 'PAYLOAD_TOO_LARGE');
    assert.equal(await t.balance(user, account), '11.00');
  });

  it('issues access tokens that live 900 seconds', async () => {
    const login = await t.request<{ expiresIn: number }>('POST', '/api/v1/auth/login', {
      body: { username: (await t.customer()).username, password: 'correct horse battery staple' },
    });
    assert.equal(login.status, 200);
    assert.equal(login.body.expiresIn, DOCUMENTED_ACCESS_TOKEN_TTL_SECONDS);
  });
});

describe('verified access tokens remembered across their expiry (controlled clock)', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp('sqlite');
  });
  after(() => {
    mock.timers.reset();
    return t.close();
  });

  it('a cached token stops working when it expires, as a fresh one would', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const tokens = new TokenService(
      t.runtime.secrets,
      { issuer: 'corebank', audience: 'corebank-api', accessTokenTtlSeconds: 60 },
      { isLive: async () => true },
      { isEnabled: async () => true },
    );
    const principal = { userId: 'u-1', sessionId: 's-1', roles: ['customer' as const] };
    const { token } = await tokens.issueAccessToken(principal);
    // First use verifies the signature and remembers the token; the second is a cache hit.
    assert.deepEqual(await tokens.verifyAccessToken(token), principal);
    mock.timers.tick(30_000);
    assert.deepEqual(await tokens.verifyAccessToken(token), principal);
    // Up to the 5-second clock tolerance past `exp` it still verifies, from the cache.
    mock.timers.tick(34_000);
    assert.deepEqual(await tokens.verifyAccessToken(token), principal);
    // Past it, the cached token is refused.
    mock.timers.tick(2_000);
    await assert.rejects(
      tokens.verifyAccessToken(token),
      (error) =>
        isCorebankError(error) && error.code === 'UNAUTHENTICATED' && /expired/.test(error.message),
    );
    // And stays refused: it was not put back into the cache.
    await assert.rejects(tokens.verifyAccessToken(token), /expired/);
  });
});
