import type { Redis } from 'ioredis';
import type { BackoffPolicy, BackoffStore } from '../auth/login-backoff.ts';

/**
 * Login back-off counters in Redis, falling back to this process's memory while Redis
 * cannot answer (fail-open to local limits): a guesser still meets the back-off of the
 * server it talks to, and a Redis outage does not turn logins into errors. Failures seen
 * only locally are not copied to Redis when it returns; the window is short and the local
 * counters keep applying on this process meanwhile. Redis's errors go to `onRemoteError`
 * (the dependency monitor: a timed-out command is slow, a lost connection an outage).
 */
export class FallbackBackoffStore implements BackoffStore {
  readonly #redis: Redis;
  readonly #remote: BackoffStore;
  readonly #local: BackoffStore;
  readonly #onRemoteError: (error: unknown) => void;

  constructor(
    redis: Redis,
    remote: BackoffStore,
    local: BackoffStore,
    onRemoteError: (error: unknown) => void = () => undefined,
  ) {
    this.#redis = redis;
    this.#remote = remote;
    this.#local = local;
    this.#onRemoteError = onRemoteError;
  }

  async #either<T>(use: (store: BackoffStore) => Promise<T>): Promise<T> {
    if (this.#redis.status === 'ready') {
      try {
        return await use(this.#remote);
      } catch (error) {
        // Redis went away mid-command or answered too late; the local counters answer.
        this.#onRemoteError(error);
      }
    }
    return use(this.#local);
  }

  async blockedUntil(key: string, nowMs: number): Promise<number> {
    // The stricter of both: a block recorded locally during an outage still holds.
    const local = await this.#local.blockedUntil(key, nowMs);
    const remote = await this.#either((store) => store.blockedUntil(key, nowMs));
    return Math.max(local, remote);
  }

  recordFailure(key: string, policy: BackoffPolicy, nowMs: number): Promise<void> {
    return this.#either((store) => store.recordFailure(key, policy, nowMs));
  }

  async reset(key: string): Promise<void> {
    await this.#local.reset(key);
    await this.#either((store) => store.reset(key));
  }
}
