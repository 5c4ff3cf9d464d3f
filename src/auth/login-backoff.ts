import type { Redis } from 'ioredis';
import { CorebankError } from '../errors.ts';
import { sha256 } from './digest.ts';

/**
 * Growing back-off after wrong passwords, tracked under two keys:
 *
 * - client + username: one client guessing one account. After a few free failures each
 *   further one doubles the wait, up to the cap (15 minutes by default). A successful login
 *   from that client resets it.
 * - username alone: many clients guessing one account (distributed guessing). It has more
 *   free failures and a much lower cap, so a stranger hammering someone's username can
 *   slow that account down for at most a minute at a time but never lock its owner out
 *   for good; the per-client key is what stops a single guesser.
 *
 * Keys are derived from the submitted name whether or not such a user exists, so unknown
 * usernames get exactly the same back-off and answer as real ones: the throttle is no
 * username oracle. Keys are hashed, so neither memory nor Redis holds raw usernames or
 * addresses, and attacker-chosen strings never become Redis key syntax.
 */
export interface BackoffPolicy {
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface LoginBackoffSettings {
  perClient: BackoffPolicy;
  perUsername: BackoffPolicy;
}

/** Counters are forgotten a day after their last failure. */
const WINDOW_MS = 24 * 60 * 60 * 1000;
const MAX_MEMORY_ENTRIES = 100_000;

interface Entry {
  failures: number;
  blockedUntilMs: number;
  expiresAtMs: number;
}

/** Where counters live: this process's memory, or Redis shared by every server. */
export interface BackoffStore {
  /** Milliseconds since epoch until which the key is blocked (0 when it is not). */
  blockedUntil(key: string, nowMs: number): Promise<number>;
  recordFailure(key: string, policy: BackoffPolicy, nowMs: number): Promise<void>;
  reset(key: string): Promise<void>;
}

export function delayAfter(failures: number, policy: BackoffPolicy): number {
  const over = failures - policy.freeFailures;
  if (over <= 0) return 0;
  // 2^(over-1) grows past the cap long before it overflows; the exponent is bounded anyway.
  return Math.min(policy.baseDelayMs * 2 ** Math.min(over - 1, 40), policy.maxDelayMs);
}

export class MemoryBackoffStore implements BackoffStore {
  readonly #entries = new Map<string, Entry>();

  async blockedUntil(key: string, nowMs: number): Promise<number> {
    const entry = this.#entries.get(key);
    if (entry === undefined) return 0;
    if (entry.expiresAtMs <= nowMs) {
      this.#entries.delete(key);
      return 0;
    }
    return entry.blockedUntilMs;
  }

  async recordFailure(key: string, policy: BackoffPolicy, nowMs: number): Promise<void> {
    const existing = this.#entries.get(key);
    const failures =
      existing === undefined || existing.expiresAtMs <= nowMs ? 1 : existing.failures + 1;
    const delay = delayAfter(failures, policy);
    this.#entries.delete(key);
    // Bounded: the oldest entry goes when the map is full (Map keeps insertion order, and
    // re-inserting moves a key to the end). Use Redis where that bound is not enough.
    if (this.#entries.size >= MAX_MEMORY_ENTRIES) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, {
      failures,
      blockedUntilMs: delay === 0 ? 0 : nowMs + delay,
      expiresAtMs: nowMs + WINDOW_MS,
    });
  }

  async reset(key: string): Promise<void> {
    this.#entries.delete(key);
  }
}

/** Increments atomically and sets the block in the same step, so racing servers agree. */
const RECORD_FAILURE = `
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local free = tonumber(ARGV[1])
if n > free then
  local exponent = math.min(n - free - 1, 40)
  local delay = math.min(tonumber(ARGV[2]) * (2 ^ exponent), tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'until', tostring(tonumber(ARGV[4]) + delay))
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return n`;

export class RedisBackoffStore implements BackoffStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix = 'corebank:login-backoff:') {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  async blockedUntil(key: string): Promise<number> {
    const until = await this.#redis.hget(this.#prefix + key, 'until');
    return until === null ? 0 : Number(until);
  }

  async recordFailure(key: string, policy: BackoffPolicy, nowMs: number): Promise<void> {
    await this.#redis.eval(
      RECORD_FAILURE,
      1,
      this.#prefix + key,
      String(policy.freeFailures),
      String(policy.baseDelayMs),
      String(policy.maxDelayMs),
      String(nowMs),
      String(WINDOW_MS),
    );
  }

  async reset(key: string): Promise<void> {
    await this.#redis.del(this.#prefix + key);
  }
}

function keyOf(
  kind: 'client' | 'username' | 'device',
  username: string,
  clientIp: string | null,
  deviceId: string | null = null,
): string {
  const material =
    kind === 'client'
      ? `${clientIp ?? 'unknown'}\n${username}`
      : kind === 'device'
        ? `${deviceId ?? ''}\n${username}`
        : username;
  return `${kind}:${sha256(material)}`;
}

export class LoginBackoff {
  readonly #store: BackoffStore;
  readonly #settings: LoginBackoffSettings;
  readonly #now: () => number;

  constructor(store: BackoffStore, settings: LoginBackoffSettings, now: () => number = Date.now) {
    this.#store = store;
    this.#settings = settings;
    this.#now = now;
  }

  /**
   * Throws RATE_LIMITED (with the wait) when a key is blocked; call before any check. A
   * client with a valid device cookie for this username (`deviceId`) is held only to its
   * own per-device key: the per-username key, which strangers can drive, does not stop it.
   */
  async assertAllowed(
    username: string,
    clientIp: string | null,
    deviceId: string | null = null,
  ): Promise<void> {
    const name = username.toLowerCase();
    const now = this.#now();
    const until =
      deviceId === null
        ? Math.max(
            await this.#store.blockedUntil(keyOf('client', name, clientIp), now),
            await this.#store.blockedUntil(keyOf('username', name, clientIp), now),
          )
        : await this.#store.blockedUntil(keyOf('device', name, clientIp, deviceId), now);
    if (until > now) {
      throw new CorebankError(
        'RATE_LIMITED',
        'too many wrong passwords; wait before trying again',
        undefined,
        { retryAfterSeconds: Math.ceil((until - now) / 1000) },
      );
    }
  }

  /**
   * Whether this client alone is free to try: the per-client key only, not the per-username
   * one. For a login that proves more (a right TOTP code) while strangers hold the
   * per-username key (see AuthService.login).
   */
  async clientAllowed(username: string, clientIp: string | null): Promise<boolean> {
    const now = this.#now();
    const key = keyOf('client', username.toLowerCase(), clientIp);
    return (await this.#store.blockedUntil(key, now)) <= now;
  }

  async recordFailure(
    username: string,
    clientIp: string | null,
    deviceId: string | null = null,
  ): Promise<void> {
    const name = username.toLowerCase();
    const now = this.#now();
    await this.#store.recordFailure(
      deviceId === null
        ? keyOf('client', name, clientIp)
        : keyOf('device', name, clientIp, deviceId),
      this.#settings.perClient,
      now,
    );
    await this.#store.recordFailure(
      keyOf('username', name, clientIp),
      this.#settings.perUsername,
      now,
    );
  }

  /** A right password from this client clears its counter (not the per-username one). */
  async recordSuccess(
    username: string,
    clientIp: string | null,
    deviceId: string | null = null,
  ): Promise<void> {
    const name = username.toLowerCase();
    await this.#store.reset(keyOf('client', name, clientIp));
    if (deviceId !== null) await this.#store.reset(keyOf('device', name, clientIp, deviceId));
  }
}
