import assert from 'node:assert/strict';
import crypto, { type KeyObject } from 'node:crypto';
import { after, before, describe, it, mock } from 'node:test';
import { SignJWT } from 'jose';
import { assertProblem, claimsOf, loginPair, me } from './support/auth-helpers.ts';
import { createTestApp, ENGINES, type TestApp } from './support/harness.ts';

/**
 * The verified-token cache (src/auth/tokens.ts) saves only the signature check and claim
 * parsing of a token already seen. Each test first makes the server remember a token (two
 * accepted requests), then changes one thing and shows the remembered token is refused at
 * once: its session ended, its `exp` passed, a byte of it changed, its key withdrawn.
 */

/** What the header parser answers; a refusal with this detail never reached the verifier. */
const HEADER_PROBLEM = /send an access token/;

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** Two accepted requests: the second is answered from the cache. */
async function remember(t: TestApp, token: string): Promise<void> {
  assert.equal((await me(t, token)).status, 200);
  assert.equal((await me(t, token)).status, 200);
}

async function assertRefusedByVerifierOrGuard(t: TestApp, token: string): Promise<string> {
  const body = assertProblem(await me(t, token), 401, 'UNAUTHENTICATED');
  assert.doesNotMatch(String(body.detail), HEADER_PROBLEM, 'refused by the header parser');
  return String(body.detail);
}

for (const engine of ENGINES) {
  describe(`verified-token cache [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { RATE_LIMITS: 'off' });
    });
    after(() => t.close());

    it('a remembered token is refused at once when its session is ended from another device', async () => {
      const user = await t.customer({ pin: null });
      const phone = await loginPair(t, user.username, user.password);
      const laptop = await loginPair(t, user.username, user.password);
      await remember(t, phone.accessToken);
      const ended = await t.request(
        'DELETE',
        `/api/v1/me/sessions/${String(claimsOf(phone.accessToken).sid)}`,
        { token: laptop.accessToken },
      );
      assert.equal(ended.status, 204, JSON.stringify(ended.body));
      assert.match(await assertRefusedByVerifierOrGuard(t, phone.accessToken), /session has ended/);
      // Refused again, not only once: nothing of the refusal depends on a first miss.
      assertProblem(await me(t, phone.accessToken), 401, 'UNAUTHENTICATED');
      // The device that ended it is untouched.
      assert.equal((await me(t, laptop.accessToken)).status, 200);
    });

    it('a remembered token is refused from its expiry on', async () => {
      const user = await t.customer({ pin: null });
      const { secrets, config } = t.runtime;
      const nowSeconds = Math.floor(Date.now() / 1000);
      const expSeconds = nowSeconds + 60;
      // Signed exactly as the server signs, for the user's live session, but short-lived.
      const token = await new SignJWT({ sid: claimsOf(user.token).sid, roles: ['customer'] })
        .setProtectedHeader({ alg: 'EdDSA', kid: secrets.signingKey.kid, typ: 'at+jwt' })
        .setIssuer(config.jwtIssuer)
        .setAudience(config.jwtAudience)
        .setSubject(user.id)
        .setIssuedAt(nowSeconds)
        .setExpirationTime(expSeconds)
        .setJti(crypto.randomUUID())
        .sign(secrets.signingKey.privateKey);
      await remember(t, token);
      // Past exp and past the verifier's 5-second clock tolerance.
      mock.timers.enable({ apis: ['Date'], now: (expSeconds + 6) * 1000 });
      try {
        assert.match(await assertRefusedByVerifierOrGuard(t, token), /expired/);
        // The user's own login token (15 minutes) is still accepted at that time: the
        // refusal is the short token's expiry, not the clock or the session.
        assert.equal((await me(t, user.token)).status, 200);
      } finally {
        mock.timers.reset();
      }
    });

    it('a changed copy of a remembered token is refused, and the original still works', async () => {
      const alice = await t.customer({ pin: null });
      const bob = await t.customer({ pin: null });
      await remember(t, alice.token);
      const [header, payload, signature] = alice.token.split('.');
      assert.ok(header && payload && signature);
      const claims = claimsOf(alice.token);
      const flip = (text: string, at: number) =>
        `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`;
      const variants = {
        // Bob's subject and session under Alice's signature.
        payload: `${header}.${base64urlJson({ ...claims, sub: bob.id, sid: claimsOf(bob.token).sid })}.${signature}`,
        // One character of the signature (not the last, whose low bits may be unused).
        signature: `${header}.${payload}.${flip(signature, 10)}`,
        // Another token type in the header.
        header: `${base64urlJson({ alg: 'EdDSA', kid: t.runtime.secrets.signingKey.kid, typ: 'JWT' })}.${payload}.${signature}`,
        // A longer expiry, same signature.
        expiry: `${header}.${base64urlJson({ ...claims, exp: Number(claims.exp) + 3600 })}.${signature}`,
      };
      for (const [name, token] of Object.entries(variants)) {
        assert.notEqual(token, alice.token, name);
        const detail = await assertRefusedByVerifierOrGuard(t, token);
        assert.match(detail, /not valid/, `${name}: ${detail}`);
      }
      const untouched = await me(t, alice.token);
      assert.equal(untouched.status, 200);
      assert.equal(untouched.body.id, alice.id);
    });

    it('a remembered token is refused at once when its signing key is withdrawn or replaced at runtime', async () => {
      const user = await t.customer({ pin: null });
      await remember(t, user.token);
      const { secrets } = t.runtime;
      const original = secrets.verificationKeys;
      const kid = secrets.signingKey.kid;
      const other: KeyObject = crypto.generateKeyPairSync('ed25519').publicKey;
      try {
        // Withdrawn: the kid is no longer accepted.
        secrets.verificationKeys = new Map([...original].filter(([id]) => id !== kid));
        assert.match(await assertRefusedByVerifierOrGuard(t, user.token), /not valid|unknown/);
        // Replaced: the same kid now names another key, which did not sign the token.
        secrets.verificationKeys = new Map([...original, [kid, other]]);
        assert.match(await assertRefusedByVerifierOrGuard(t, user.token), /not valid/);
      } finally {
        secrets.verificationKeys = original;
      }
      // With the key back, the same token verifies again: a refusal is never remembered.
      assert.equal((await me(t, user.token)).status, 200);
    });
  });
}
