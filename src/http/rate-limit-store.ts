import { createRequire } from 'node:module';
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';

type Store = FastifyRateLimitStore;
type Callback = Parameters<Store['incr']>[1];
type RouteStoreOptions = Parameters<Store['child']>[0];

type RedisStoreConstructor = new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  redis: Redis,
  key: string,
) => Store;
type LocalStoreConstructor = new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  cache: number,
) => Store;

// The plugin's own stores (CommonJS, no type declarations): reused so the counting rules are
// exactly the plugin's whichever store answers.
const require = createRequire(import.meta.url);
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as RedisStoreConstructor;
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as LocalStoreConstructor;

/**
 * Rate-limit counters in Redis, falling back to this process's memory while Redis cannot
 * answer (fail-open to local limits, docs/operations.md): a Redis outage must not turn every
 * limited route into an error, and limits still hold per process. The Redis client has a
 * short command timeout and no offline queue, so the fallback is taken within milliseconds.
 * Redis's errors go to `onRemoteError` (the dependency monitor: a timed-out command is
 * counted as slow, a lost connection as an outage).
 */
export function fallbackStoreClass(
  redis: Redis,
  nameSpace: string,
  localKeys: number,
  onRemoteError: (error: unknown) => void = () => undefined,
): FastifyRateLimitStoreCtor {
  class FallbackStore implements Store {
    readonly #remote: Store;
    readonly #local: Store;

    constructor(
      params: { continueExceeding?: boolean; exponentialBackoff?: boolean },
      stores?: { remote: Store; local: Store },
    ) {
      const continueExceeding = params.continueExceeding ?? false;
      const exponentialBackoff = params.exponentialBackoff ?? false;
      this.#remote =
        stores?.remote ?? new RedisStore(continueExceeding, exponentialBackoff, redis, nameSpace);
      this.#local =
        stores?.local ?? new LocalStore(continueExceeding, exponentialBackoff, localKeys);
    }

    incr(key: string, callback: Callback, timeWindow: number, max: number): void {
      if (redis.status !== 'ready') {
        this.#local.incr(key, callback, timeWindow, max);
        return;
      }
      this.#remote.incr(
        key,
        (error, result) => {
          if (error === null) {
            callback(null, result);
            return;
          }
          onRemoteError(error);
          this.#local.incr(key, callback, timeWindow, max);
        },
        timeWindow,
        max,
      );
    }

    child(routeOptions: RouteStoreOptions): Store {
      return new FallbackStore(routeOptions as { continueExceeding?: boolean }, {
        remote: this.#remote.child(routeOptions),
        local: this.#local.child(routeOptions),
      });
    }
  }
  return FallbackStore;
}
