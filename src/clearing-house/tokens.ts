import crypto from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK, jwtVerify, SignJWT } from 'jose';
import { PAYMENTS_SCOPE } from '../payments/network-protocol.ts';
import type { ClearingMember } from './config.ts';

/** The audience of every access token: this network's resource server (the payments API). */
export const TOKEN_AUDIENCE = 'payment-network';
const ALGORITHM = 'EdDSA';
/** RFC 9068 media type of a JWT access token, checked on the way in. */
const TOKEN_TYPE = 'at+jwt';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

interface SigningKey {
  kid: string;
  privateKey: KeyPair['privateKey'];
  publicKey: KeyPair['publicKey'];
}

async function newSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(ALGORITHM, { crv: 'Ed25519' });
  return { kid: crypto.randomUUID(), privateKey, publicKey };
}

export interface IssuedToken {
  accessToken: string;
  expiresInSeconds: number;
}

/**
 * Issues and checks the network's access tokens: EdDSA JWTs (RFC 9068 shape) signed by a key
 * that lives only in this process. A restart, or the `expireTokens` fault, replaces the key,
 * so every token issued before stops verifying at once, as when a real network rotates keys
 * or revokes tokens: members must fetch a new one on the 401.
 */
export class TokenAuthority {
  readonly #issuer: string;
  #key: SigningKey;
  #ttlSeconds: number;

  private constructor(issuer: string, key: SigningKey, ttlSeconds: number) {
    this.#issuer = issuer;
    this.#key = key;
    this.#ttlSeconds = ttlSeconds;
  }

  static async create(issuer: string, ttlSeconds: number): Promise<TokenAuthority> {
    return new TokenAuthority(issuer, await newSigningKey(), ttlSeconds);
  }

  get ttlSeconds(): number {
    return this.#ttlSeconds;
  }

  set ttlSeconds(value: number) {
    this.#ttlSeconds = value;
  }

  /** Every token issued so far stops verifying. */
  async rotate(): Promise<void> {
    this.#key = await newSigningKey();
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    const jwk = await exportJWK(this.#key.publicKey);
    return { keys: [{ ...jwk, kid: this.#key.kid, alg: ALGORITHM, use: 'sig' }] };
  }

  async issue(member: ClearingMember): Promise<IssuedToken> {
    const ttl = this.#ttlSeconds;
    const accessToken = await new SignJWT({ scope: PAYMENTS_SCOPE, client_id: member.clientId })
      .setProtectedHeader({ alg: ALGORITHM, kid: this.#key.kid, typ: TOKEN_TYPE })
      .setIssuer(this.#issuer)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject(member.bankCode)
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${ttl}s`)
      .sign(this.#key.privateKey);
    return { accessToken, expiresInSeconds: ttl };
  }

  /**
   * The bank code and scopes of a valid token, or undefined. Every check is explicit: one
   * algorithm, the current key only, issuer, audience, type, expiry with no clock tolerance.
   */
  async verify(token: string): Promise<{ bankCode: string; scopes: string[] } | undefined> {
    try {
      const { payload, protectedHeader } = await jwtVerify(token, this.#key.publicKey, {
        algorithms: [ALGORITHM],
        issuer: this.#issuer,
        audience: TOKEN_AUDIENCE,
        typ: TOKEN_TYPE,
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
        clockTolerance: 0,
      });
      if (protectedHeader.kid !== this.#key.kid || typeof payload.sub !== 'string') {
        return undefined;
      }
      const scope = typeof payload.scope === 'string' ? payload.scope : '';
      return { bankCode: payload.sub, scopes: scope.split(' ').filter((s) => s !== '') };
    } catch {
      return undefined;
    }
  }
}

/**
 * Constant-time check of a presented client secret. Both sides are hashed first so the
 * comparison takes the same time whatever their lengths, and an unknown client id is checked
 * against a dummy secret so it answers in the same time as a wrong secret.
 */
export function secretMatches(presented: string, expected: string | undefined): boolean {
  const digest = (value: string) => crypto.createHash('sha256').update(value, 'utf8').digest();
  const same = crypto.timingSafeEqual(
    digest(presented),
    digest(expected ?? 'no-such-client-dummy-secret'),
  );
  return same && expected !== undefined;
}
