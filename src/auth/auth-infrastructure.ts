import { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { DatabaseHandle } from '../db/database.ts';
import type { App } from '../http/types.ts';
import { MailSender } from '../mail/mail-sender.ts';
import { reliabilityOf } from '../reliability/context.ts';
import { FallbackBackoffStore } from '../reliability/fallback-backoff-store.ts';
import { redisClientOptions } from '../reliability/redis.ts';
import { AuthService } from './auth-service.ts';
import { CredentialGuard } from './credential-guard.ts';
import { DeviceCookies } from './device-cookie.ts';
import {
  type BackoffStore,
  LoginBackoff,
  MemoryBackoffStore,
  RedisBackoffStore,
} from './login-backoff.ts';
import { deriveMfaKeys } from './mfa/crypto.ts';
import { findMfa } from './mfa/repository.ts';
import { registerMfaRoutes } from './mfa/routes.ts';
import { MfaService } from './mfa/service.ts';
import { registerPasswordRoutes } from './passwords/routes.ts';
import { PasswordService } from './passwords/service.ts';
import { registerAuthRoutes } from './routes.ts';
import type { Secrets } from './secrets.ts';
import { SessionGate } from './sessions/gate.ts';
import { registerSessionRoutes } from './sessions/routes.ts';
import { SessionService } from './sessions/service.ts';
import { TokenService } from './tokens.ts';

/**
 * The stateful parts of authentication that outlive a request: the live-session gate
 * (with its Redis subscription), the login back-off store and the e-mail sender. Built
 * before the routes and closed with the app.
 */
export interface AuthInfrastructure {
  gate: SessionGate;
  backoff: LoginBackoff;
  mail: MailSender;
}

export async function openAuthInfrastructure(
  app: App,
  config: Config,
  database: DatabaseHandle,
): Promise<AuthInfrastructure> {
  const onError = (error: unknown, message: string) => app.log.error({ err: error }, message);
  // Redis clients connect in the background and report to the dependency monitor; the
  // server starts while Redis is down (docs/operations.md, "When a dependency fails").
  const { redis: redisWatch } = reliabilityOf(app);
  const redisOptions = redisClientOptions(config.redisCommandTimeoutMs);
  const gate = new SessionGate({
    db: database.db,
    cacheTtlMs: config.sessionCacheTtlMs,
    redisUrl: config.redisUrl,
    onError,
    redisOptions,
    watchRedis: (client) => redisWatch.add(client),
  });
  let redis: Redis | undefined;
  let store: BackoffStore = new MemoryBackoffStore();
  try {
    await gate.start();
    if (config.redisUrl !== undefined) {
      redis = new Redis(config.redisUrl, redisOptions);
      redisWatch.add(redis);
      // Shared counters: a guesser spreading attempts over several servers gains nothing.
      // While Redis cannot answer, counting continues in this process (fail-open to local).
      store = new FallbackBackoffStore(
        redis,
        new RedisBackoffStore(redis),
        new MemoryBackoffStore(),
        (error) => reliabilityOf(app).monitor.observe(error),
      );
    }
  } catch (error) {
    await gate.close();
    redis?.disconnect();
    throw error;
  }
  const backoff = new LoginBackoff(store, {
    perClient: {
      freeFailures: config.loginBackoff.freeFailuresPerClient,
      baseDelayMs: config.loginBackoff.baseDelayMs,
      maxDelayMs: config.loginBackoff.maxDelayMs,
    },
    perUsername: {
      freeFailures: config.loginBackoff.freeFailuresPerUsername,
      baseDelayMs: config.loginBackoff.baseDelayMs,
      maxDelayMs: Math.min(config.loginBackoff.usernameMaxDelayMs, config.loginBackoff.maxDelayMs),
    },
  });
  const mail = new MailSender({
    db: database.db,
    env: config.env,
    smtpUrl: config.smtpUrl,
    mailFrom: config.mailFrom,
    pollIntervalMs: config.mailPollIntervalMs,
    log: app.log,
  });
  app.addHook('onReady', async () => mail.start());
  app.addHook('onClose', async () => {
    await mail.stop();
    await gate.close();
    if (redis !== undefined) {
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    }
  });
  return { gate, backoff, mail };
}

/** The auth services, built once per app from the infrastructure and the secrets. */
export interface AuthServices {
  tokens: TokenService;
  sessions: SessionService;
  passwords: PasswordService;
  mfa: MfaService;
  auth: AuthService;
  guard: CredentialGuard;
}

export function buildAuthServices(
  infrastructure: AuthInfrastructure,
  config: Config,
  database: DatabaseHandle,
  secrets: Secrets,
): AuthServices {
  const { db, engine } = database;
  const tokens = new TokenService(
    secrets,
    {
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    },
    infrastructure.gate,
    { isEnabled: async (userId) => (await findMfa(db, userId))?.enabled === true },
  );
  const sessions = new SessionService({
    db,
    engine,
    tokens,
    gate: infrastructure.gate,
    refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
    absoluteTtlSeconds: config.security.sessionAbsoluteTtlSeconds,
  });
  // One back-off, audit and lock for every check of a known user's password or code.
  const guard = new CredentialGuard({
    db,
    engine,
    backoff: infrastructure.backoff,
    maxFailures: config.security.authMaxFailures,
  });
  const passwords = new PasswordService({
    db,
    engine,
    gate: infrastructure.gate,
    guard,
    resetTokenTtlSeconds: config.passwordResetTtlSeconds,
    mailQueued: () => infrastructure.mail.kick(),
  });
  // TOTP secrets and recovery codes are protected by keys derived from the PIN pepper.
  const mfa = new MfaService({
    db,
    engine,
    keys: deriveMfaKeys(secrets.pinPepper),
    gate: infrastructure.gate,
    guard,
  });
  const auth = new AuthService({
    db,
    engine,
    secrets,
    sessions,
    mfa,
    backoff: infrastructure.backoff,
    guard,
    devices: new DeviceCookies(secrets.pinPepper),
    mailQueued: () => infrastructure.mail.kick(),
    pinMaxAttempts: config.pinMaxAttempts,
  });
  return { tokens, sessions, passwords, mfa, auth, guard };
}

/** Register, login, me, PIN, refresh, logout, JWKS, passwords and MFA. */
export function registerAuthApi(app: App, services: AuthServices): void {
  registerAuthRoutes(app, services.auth, services.tokens);
  registerSessionRoutes(app, services.sessions, services.tokens);
  registerPasswordRoutes(app, services.passwords, services.tokens);
  registerMfaRoutes(app, services.mfa, services.tokens);
}
