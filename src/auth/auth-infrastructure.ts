import { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { DatabaseHandle } from '../db/database.ts';
import type { App } from '../http/types.ts';
import { MailSender } from '../mail/mail-sender.ts';
import { reliabilityOf } from '../reliability/context.ts';
import { FallbackBackoffStore } from '../reliability/fallback-backoff-store.ts';
import { redisClientOptions } from '../reliability/redis.ts';
import {
  type BackoffStore,
  LoginBackoff,
  MemoryBackoffStore,
  RedisBackoffStore,
} from './login-backoff.ts';
import { registerPasswordRoutes } from './password-routes.ts';
import { PasswordService } from './password-service.ts';
import { SessionGate } from './session-gate.ts';
import { registerSessionRoutes } from './session-routes.ts';
import { SessionService } from './sessions-service.ts';
import type { TokenService } from './tokens.ts';

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

/** Refresh, logout, JWKS, password change and password reset. */
export function registerSessionAndPasswordRoutes(
  app: App,
  infrastructure: AuthInfrastructure,
  tokens: TokenService,
  config: Config,
  database: DatabaseHandle,
): void {
  const sessions = new SessionService({
    db: database.db,
    engine: database.engine,
    tokens,
    gate: infrastructure.gate,
    refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
  });
  const passwords = new PasswordService({
    db: database.db,
    engine: database.engine,
    gate: infrastructure.gate,
    backoff: infrastructure.backoff,
    resetTokenTtlSeconds: config.passwordResetTtlSeconds,
    mailQueued: () => infrastructure.mail.kick(),
  });
  registerSessionRoutes(app, sessions, tokens);
  registerPasswordRoutes(app, passwords, tokens);
}
