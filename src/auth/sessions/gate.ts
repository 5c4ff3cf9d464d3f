import { Redis, type RedisOptions } from 'ioredis';
import type { Db } from '../../db/database.ts';
import type { SessionLiveness } from '../tokens.ts';
import { findSessionState } from './repository.ts';

/** Redis channel on which every server announces the sessions it has just ended. */
export const REVOCATION_CHANNEL = 'corebank:sessions:revoked';
const MAX_CACHED_SESSIONS = 50_000;
const MAX_IDS_PER_MESSAGE = 10_000;

export interface SessionGateOptions {
  db: Db;
  /** How long a "live" answer is trusted without asking the database again. */
  cacheTtlMs: number;
  /** Redis for cross-process eviction; undefined: this process is the only one. */
  redisUrl: string | undefined;
  onError: (error: unknown, message: string) => void;
  /** Client options (bounded waits, background connect) and who follows their state. */
  redisOptions?: RedisOptions;
  watchRedis?: (client: Redis) => void;
}

interface CachedLive {
  userId: string;
  untilMs: number;
}

/**
 * Answers "is this session live?" for the auth guard on every request, cheaply.
 *
 * Live answers are cached in this process for a few seconds; "ended" answers are never
 * cached, so a revoked session is asked about again (and refused) every time. Every
 * revocation made by this process evicts its sessions here at once, after the commit, so a
 * single process is exactly consistent. With Redis, revocations are also published and
 * every other process evicts them too; if a message is lost (Redis restarting), the cache
 * lifetime bounds how long another process can still accept the session, and a reconnect
 * clears the whole cache because messages may have been missed meanwhile.
 *
 * A lookup that started before an eviction must not put its (now stale) answer back into
 * the cache; the epoch counter detects that.
 */
export class SessionGate implements SessionLiveness {
  readonly #options: SessionGateOptions;
  readonly #cache = new Map<string, CachedLive>();
  #epoch = 0;
  #publisher: Redis | undefined;
  #subscriber: Redis | undefined;

  constructor(options: SessionGateOptions) {
    this.#options = options;
  }

  /**
   * Connects to Redis when configured, in the background: the server starts while Redis is
   * down. Until the subscriber is ready, revocations from other processes could be missed,
   * so the cache is not trusted then (see isLive): fail-closed, every request asks the
   * database, and a database outage answers 503 rather than skipping the check.
   */
  async start(): Promise<void> {
    const { redisUrl } = this.#options;
    if (redisUrl === undefined) return;
    const options = this.#options.redisOptions ?? {
      lazyConnect: true,
      connectTimeout: 5000,
      maxRetriesPerRequest: 2,
    };
    this.#publisher = new Redis(redisUrl, options);
    this.#subscriber = new Redis(redisUrl, options);
    for (const client of [this.#publisher, this.#subscriber]) {
      // ioredis reconnects by itself; an unhandled 'error' event would crash the process.
      if (this.#options.watchRedis !== undefined) this.#options.watchRedis(client);
      else client.on('error', (error: unknown) => this.#options.onError(error, 'redis error'));
    }
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel === REVOCATION_CHANNEL) this.#evictLocal(parseIds(message));
    });
    const subscriber = this.#subscriber;
    // Messages may have been missed while disconnected: forget every cached answer, and
    // subscribe again on each (re)connection.
    subscriber.on('ready', () => {
      this.#clear();
      subscriber.subscribe(REVOCATION_CHANNEL).catch((error: unknown) => {
        this.#options.onError(error, 'could not subscribe to session revocations');
      });
    });
    if (this.#options.redisOptions === undefined) {
      await this.#publisher.connect();
      await this.#subscriber.connect();
    }
  }

  /** The cache may be trusted only while revocations from other processes can reach it. */
  #cacheTrusted(): boolean {
    return this.#subscriber === undefined || this.#subscriber.status === 'ready';
  }

  async close(): Promise<void> {
    for (const client of [this.#subscriber, this.#publisher]) {
      if (client !== undefined) {
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      }
    }
  }

  async isLive(sessionId: string, userId: string): Promise<boolean> {
    const now = Date.now();
    const trusted = this.#cacheTrusted();
    const hit = trusted ? this.#cache.get(sessionId) : undefined;
    if (hit !== undefined) {
      if (hit.untilMs > now) return hit.userId === userId;
      this.#cache.delete(sessionId);
    }
    const epoch = this.#epoch;
    const state = await findSessionState(this.#options.db, sessionId);
    // The token's subject must own the session: a token can never borrow another's sid.
    const live = state !== null && state.revokedAt === null && state.userId === userId;
    if (live && trusted && epoch === this.#epoch && this.#options.cacheTtlMs > 0) {
      if (this.#cache.size >= MAX_CACHED_SESSIONS) {
        // Bounded: drop the oldest entry (Map keeps insertion order).
        const oldest = this.#cache.keys().next();
        if (oldest.done !== true) this.#cache.delete(oldest.value);
      }
      this.#cache.set(sessionId, { userId, untilMs: now + this.#options.cacheTtlMs });
    }
    return live;
  }

  /**
   * Call after the revoking transaction committed: evicts here at once and tells the other
   * processes. A failed publish is reported but does not fail the caller's request: the
   * revocation is already durable and the cache lifetime bounds the rest.
   */
  async revoked(sessionIds: readonly string[]): Promise<void> {
    if (sessionIds.length === 0) return;
    this.#evictLocal(sessionIds);
    if (this.#publisher === undefined) return;
    for (let start = 0; start < sessionIds.length; start += MAX_IDS_PER_MESSAGE) {
      const batch = sessionIds.slice(start, start + MAX_IDS_PER_MESSAGE);
      try {
        await this.#publisher.publish(REVOCATION_CHANNEL, JSON.stringify(batch));
      } catch (error) {
        this.#options.onError(error, 'could not publish session revocation');
      }
    }
  }

  #evictLocal(sessionIds: readonly string[]): void {
    this.#epoch += 1;
    for (const id of sessionIds) this.#cache.delete(id);
  }

  #clear(): void {
    this.#epoch += 1;
    this.#cache.clear();
  }
}

/**
 * Messages only ever evict cache entries (forcing a database lookup), so whoever can
 * publish on the channel can cost us queries but never make an ended session live again.
 */
function parseIds(message: string): string[] {
  try {
    const parsed: unknown = JSON.parse(message);
    if (!Array.isArray(parsed)) return [];
    return parsed
      .slice(0, MAX_IDS_PER_MESSAGE)
      .filter((id): id is string => typeof id === 'string');
  } catch {
    return [];
  }
}
