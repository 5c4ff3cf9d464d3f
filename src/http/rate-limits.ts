import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest, RouteOptions } from 'fastify';
import { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { CorebankError } from '../errors.ts';
import { reliabilityOf } from '../reliability/context.ts';
import { redisClientOptions } from '../reliability/redis.ts';
import { fallbackStoreClass } from './rate-limit-store.ts';
import type { App } from './types.ts';

const ONE_MINUTE_MS = 60_000;
/** Most distinct keys the in-memory store remembers (least recently used are dropped). */
const LOCAL_CACHE_KEYS = 50_000;
const REDIS_NAMESPACE = 'corebank:rate-limit:';
/** Usernames are bounded by the login schema; the key is bounded even before validation. */
const USERNAME_KEY_MAX = 64;

type KeyKind = 'client-and-username' | 'user' | 'client';

interface Limit {
  max: number;
  key: KeyKind;
}

/**
 * Login is keyed by client address and username: guessing one customer's password from one
 * place is slowed, while a shared address (an office NAT) does not lock out its neighbours.
 * Money routes are keyed by the authenticated user, whatever address the calls come from.
 */
function limitsOf(config: Config['rateLimits']): ReadonlyMap<string, Limit> {
  return new Map<string, Limit>([
    ['POST /api/v1/auth/login', { max: config.loginPerMinute, key: 'client-and-username' }],
    [
      'POST /api/v1/accounts/:accountNumber/transfers',
      { max: config.transfersPerMinute, key: 'user' },
    ],
    // A bulk request counts as one request here; its transfers are bound by the daily limits.
    ['POST /api/v1/transfers/bulk', { max: config.transfersPerMinute, key: 'user' }],
    ['POST /api/v1/accounts/:accountNumber/deposits', { max: config.cashPerMinute, key: 'user' }],
    [
      'POST /api/v1/accounts/:accountNumber/withdrawals',
      { max: config.cashPerMinute, key: 'user' },
    ],
    // Anti-automation per client (issue #10): registrations and reset requests from one
    // address, whatever names or addresses they carry.
    ['POST /api/v1/auth/register', { max: config.registerPerMinute, key: 'client' }],
    [
      'POST /api/v1/auth/password-reset/request',
      { max: config.passwordResetPerMinute, key: 'client' },
    ],
    // Staff actions per staff user: a stolen staff session cannot spray step-up codes.
    ['POST /api/v1/admin/users/:userId/unlock', { max: config.adminPerMinute, key: 'user' }],
    [
      'POST /api/v1/admin/accounts/:accountNumber/freeze',
      { max: config.adminPerMinute, key: 'user' },
    ],
    [
      'POST /api/v1/admin/accounts/:accountNumber/unfreeze',
      { max: config.adminPerMinute, key: 'user' },
    ],
  ]);
}

/** Login attempts from one client across every username (password spraying). */
const LOGIN_ROUTE = '/api/v1/auth/login';

function usernameOf(request: FastifyRequest): string {
  const body = request.body;
  if (typeof body !== 'object' || body === null || !('username' in body)) return '';
  const username = body.username;
  return typeof username === 'string' ? username.toLowerCase().slice(0, USERNAME_KEY_MAX) : '';
}

function keyOf(kind: KeyKind, request: FastifyRequest): string {
  if (kind === 'client-and-username') {
    return `login:${request.ip}:${usernameOf(request)}`;
  }
  if (kind === 'client') return `client:${request.routeOptions.url ?? ''}:${request.ip}`;
  // The auth guard ran in onRequest, before this hook; without a principal the route has
  // already answered 401, so the address is only a defensive fallback.
  return request.principal === null ? `ip:${request.ip}` : `user:${request.principal.userId}`;
}

/**
 * Registers per-route request limits (contract: login 5/min per client and username,
 * transfers 5/min and deposits and withdrawals 20/min per user, each configurable).
 * `RATE_LIMITS=off` skips all of it (benchmarks and load tests only).
 */
export async function registerRateLimits(app: App, config: Config): Promise<void> {
  if (!config.rateLimits.enabled) return;
  const limits = limitsOf(config.rateLimits);

  let redis: Redis | undefined;
  if (config.redisUrl !== undefined) {
    // Connects in the background: the server starts while Redis is down, and counts in
    // process memory until it is back (see rate-limit-store.ts).
    redis = new Redis(config.redisUrl, redisClientOptions(config.redisCommandTimeoutMs));
    reliabilityOf(app).redis.add(redis);
    const client = redis;
    app.addHook('onClose', async () => {
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    });
  }

  // Attaches each route's limit as it is declared. This hook is added before the plugin,
  // so the plugin's own onRoute hook sees the configuration.
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.includes('POST') && route.url === LOGIN_ROUTE) {
      // A second limit on login, per client across usernames (spraying one password over
      // many names); the first, per client and username, is the route's own below.
      // createRateLimit, not rateLimit: the plugin runs only one of its handlers per
      // request, and the route's own limit must still run after this one.
      const perClient = app.createRateLimit({
        max: config.rateLimits.loginPerClientPerMinute,
        timeWindow: ONE_MINUTE_MS,
        keyGenerator: (request: FastifyRequest) => `login-client:${request.ip}`,
      });
      const check = async (request: FastifyRequest): Promise<void> => {
        const result = await perClient(request);
        if (!result.isAllowed && result.isExceeded) {
          throw new CorebankError(
            'RATE_LIMITED',
            `too many logins from this client: at most ${result.max} per minute`,
            undefined,
            { retryAfterSeconds: result.ttlInSeconds },
          );
        }
      };
      const existing = route.preValidation;
      route.preValidation = [
        ...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]),
        check,
      ];
    }
    for (const method of methods) {
      const limit = limits.get(`${method} ${route.url}`);
      if (limit === undefined) continue;
      route.config = {
        ...route.config,
        rateLimit: {
          max: limit.max,
          timeWindow: ONE_MINUTE_MS,
          keyGenerator: (request: FastifyRequest) => keyOf(limit.key, request),
        },
      };
    }
  });

  await app.register(rateLimit, {
    global: false,
    // After authentication (onRequest) and body parsing, so keys can use the principal and
    // the username; before validation, so malformed attempts count too.
    hook: 'preValidation',
    max: config.rateLimits.loginPerMinute,
    timeWindow: ONE_MINUTE_MS,
    ...(redis === undefined
      ? { cache: LOCAL_CACHE_KEYS }
      : {
          store: fallbackStoreClass(redis, REDIS_NAMESPACE, LOCAL_CACHE_KEYS, (error) =>
            reliabilityOf(app).monitor.observe(error),
          ),
        }),
    // The store never lets a request through uncounted: it falls back to in-process
    // counters when Redis cannot answer, so an error here is a bug and is not skipped.
    skipOnError: false,
    continueExceeding: false,
    exponentialBackoff: false,
    ban: -1,
    enableDraftSpec: false,
    addHeaders: {
      'x-ratelimit-limit': true,
      'x-ratelimit-remaining': true,
      'x-ratelimit-reset': true,
      'retry-after': true,
    },
    addHeadersOnExceeding: {
      'x-ratelimit-limit': true,
      'x-ratelimit-remaining': true,
      'x-ratelimit-reset': true,
    },
    errorResponseBuilder: (_request, context) =>
      new CorebankError(
        'RATE_LIMITED',
        `too many requests: at most ${context.max} per minute; retry in ${context.after}`,
      ),
  });
}
