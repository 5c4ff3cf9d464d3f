import crypto, { type KeyObject } from 'node:crypto';
import { exportJWK, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { CorebankError } from '../errors.ts';
import { isRole, type Principal, type Role } from './roles.ts';
import type { Secrets } from './secrets.ts';
import { assertStaffEnrolled, type MfaEnrolment } from './staff-mfa.ts';

export interface TokenSettings {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
}

/** RFC 9068's media type for JWT access tokens, so an ID token or other JWT is not taken. */
const ACCESS_TOKEN_TYPE = 'at+jwt';
const ALGORITHM = 'EdDSA';
const CLOCK_TOLERANCE_SECONDS = 5;
/** Verified tokens remembered at most; the oldest is forgotten first. */
const VERIFIED_TOKEN_CACHE_LIMIT = 50_000;

/** Answers whether a session (and so every access token naming it) may still be used. */
export interface SessionLiveness {
  isLive(sessionId: string, userId: string): Promise<boolean>;
}

/** One entry of the JWKS document (RFC 7517), for an Ed25519 key (RFC 8037). */
export interface PublicJwk {
  kid: string;
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  alg: 'EdDSA';
  use: 'sig';
}

/** A token whose signature and claims were checked once, and what that check relied on. */
interface VerifiedToken {
  principal: Principal;
  /** The token's own `exp`: the entry is never used at or after it. */
  expiresAtMs: number;
  kid: string;
  /** The key that verified it: if that kid stops naming this key, the entry is void. */
  key: KeyObject;
}

export interface IssuedAccessToken {
  token: string;
  expiresInSeconds: number;
}

/**
 * Access tokens: short-lived EdDSA (Ed25519) JWTs. Every security-relevant option is set
 * here explicitly rather than left to jose's defaults: the one accepted algorithm, issuer,
 * audience, token type, required claims and expiry. Keys carry ids (`kid`) so that a new
 * key can be introduced while tokens signed by the previous one remain valid.
 */
export class TokenService {
  readonly #secrets: Secrets;
  readonly #settings: TokenSettings;
  readonly #sessions: SessionLiveness;
  readonly #enrolment: MfaEnrolment;
  readonly #verified = new Map<string, VerifiedToken>();

  constructor(
    secrets: Secrets,
    settings: TokenSettings,
    sessions: SessionLiveness,
    enrolment: MfaEnrolment,
  ) {
    this.#secrets = secrets;
    this.#settings = settings;
    this.#sessions = sessions;
    this.#enrolment = enrolment;
  }

  /** Refuses a staff caller without confirmed MFA (see staff-mfa.ts); customers pass. */
  async assertStaffEnrolled(principal: Principal): Promise<void> {
    await assertStaffEnrolled(principal, this.#enrolment);
  }

  /**
   * A signature only proves the token was issued; logout, a password change or a stolen
   * refresh token end the session before the token expires, so every request also asks
   * whether its session is still live (cheaply: see SessionGate).
   */
  async assertSessionLive(principal: Principal): Promise<void> {
    if (!(await this.#sessions.isLive(principal.sessionId, principal.userId))) {
      throw new CorebankError('UNAUTHENTICATED', 'this session has ended; sign in again');
    }
  }

  /** The public keys that verify access tokens, current first, as a JWKS document. */
  async jwks(): Promise<{ keys: PublicJwk[] }> {
    const keys: PublicJwk[] = [];
    for (const { kid, publicKey } of this.#secrets.publicKeys) {
      const jwk = await exportJWK(publicKey);
      if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
        throw new Error(`signing key ${kid} is not an Ed25519 key`);
      }
      // Only public members are copied: a private `d` can never leak through this document.
      keys.push({ kid, kty: 'OKP', crv: 'Ed25519', x: jwk.x, alg: ALGORITHM, use: 'sig' });
    }
    return { keys };
  }

  async issueAccessToken(principal: Principal): Promise<IssuedAccessToken> {
    const { signingKey } = this.#secrets;
    const ttl = this.#settings.accessTokenTtlSeconds;
    const token = await new SignJWT({ sid: principal.sessionId, roles: [...principal.roles] })
      .setProtectedHeader({ alg: ALGORITHM, kid: signingKey.kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(this.#settings.issuer)
      .setAudience(this.#settings.audience)
      .setSubject(principal.userId)
      .setIssuedAt()
      .setExpirationTime(`${ttl}s`)
      .setJti(crypto.randomUUID())
      .sign(signingKey.privateKey);
    return { token, expiresInSeconds: ttl };
  }

  /**
   * Returns the principal of a valid token; throws UNAUTHENTICATED for anything else.
   *
   * Verifying an Ed25519 signature costs far more than the rest of a transfer, and a client
   * sends the same token for up to 15 minutes, so verified tokens are remembered (bounded,
   * oldest forgotten first), keyed by the whole token string: any change to header, payload
   * or signature is a different key and is verified from scratch. Only a token that passed
   * every check is remembered, and only until its own `exp`; after that it is verified
   * afresh (jose's clock tolerance then decides, exactly as for a token never seen). An
   * entry is used only while its `kid` still names the key that verified it, so a key
   * withdrawn or replaced at runtime voids every token it verified at once. The remembered
   * part is the signature and claims only: the session check (`assertSessionLive`) and the
   * staff MFA check run on every request, so logout and revocation still take effect at once.
   */
  async verifyAccessToken(token: string): Promise<Principal> {
    const cached = this.#verified.get(token);
    if (cached !== undefined) {
      if (
        Date.now() < cached.expiresAtMs &&
        this.#secrets.verificationKeys.get(cached.kid) === cached.key
      ) {
        return cached.principal;
      }
      this.#verified.delete(token);
    }
    const verified = await this.#verify(token);
    if (Date.now() < verified.expiresAtMs) {
      if (this.#verified.size >= VERIFIED_TOKEN_CACHE_LIMIT) {
        const oldest = this.#verified.keys().next();
        if (oldest.done !== true) this.#verified.delete(oldest.value);
      }
      this.#verified.set(token, verified);
    }
    return verified.principal;
  }

  async #verify(token: string): Promise<VerifiedToken> {
    // Which key jose was given: the cache entry is bound to it.
    const used: { kid?: string; key?: KeyObject } = {};
    try {
      const { payload } = await jwtVerify(
        token,
        (header) => {
          const key =
            header.kid === undefined ? undefined : this.#secrets.verificationKeys.get(header.kid);
          if (key === undefined || header.kid === undefined) {
            throw new CorebankError('UNAUTHENTICATED', 'unknown signing key');
          }
          used.kid = header.kid;
          used.key = key;
          return key;
        },
        {
          algorithms: [ALGORITHM],
          issuer: this.#settings.issuer,
          audience: this.#settings.audience,
          typ: ACCESS_TOKEN_TYPE,
          requiredClaims: ['sub', 'sid', 'exp', 'iat', 'roles'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
        },
      );
      const roles = payload.roles;
      if (
        typeof payload.sub !== 'string' ||
        typeof payload.sid !== 'string' ||
        !Array.isArray(roles) ||
        !roles.every((role): role is Role => typeof role === 'string' && isRole(role))
      ) {
        throw new CorebankError('UNAUTHENTICATED', 'access token claims are malformed');
      }
      if (typeof payload.exp !== 'number' || used.kid === undefined || used.key === undefined) {
        throw new CorebankError('UNAUTHENTICATED', 'access token claims are malformed');
      }
      return {
        principal: { userId: payload.sub, sessionId: payload.sid, roles },
        expiresAtMs: payload.exp * 1000,
        kid: used.kid,
        key: used.key,
      };
    } catch (error) {
      if (error instanceof CorebankError) throw error;
      if (error instanceof joseErrors.JWTExpired) {
        throw new CorebankError('UNAUTHENTICATED', 'access token has expired');
      }
      if (error instanceof joseErrors.JOSEError || error instanceof TypeError) {
        throw new CorebankError('UNAUTHENTICATED', 'access token is not valid');
      }
      throw error;
    }
  }
}
