import type { Redis, RedisOptions } from 'ioredis';
import { type DependencyMonitor, isTimeout } from './dependencies.ts';

/**
 * Options for every Redis client of the server. Redis is optional infrastructure here
 * (shared counters, revocation fan-out), so no request may wait long for it and the server
 * must start without it: the client connects in the background and keeps reconnecting
 * (capped at 2 s between attempts), commands fail after `commandTimeoutMs` instead of
 * queueing behind a dead connection, and the callers fall back as documented.
 *
 * Every option that decides when a connection is dropped is set here on purpose:
 *
 * - `protocol: 2`, `enableReadyCheck: false`, `disableClientInfo: true`: no handshake
 *   commands. ioredis 6 opens every (re)connection with `HELLO 3` (RESP3), then INFO (the
 *   ready check) and CLIENT SETINFO, and `commandTimeout` applies to them too. Under load (a
 *   busy event loop, or a Redis that pauses) HELLO or INFO took longer than the timeout;
 *   ioredis treats a failed HELLO or ready check as fatal, closed the connection and
 *   reconnected, and the next handshake timed out the same way: the client closed and
 *   reconnected under load, and each round was reported as an outage. RESP2 needs no HELLO
 *   and our commands read the same on it; the ready check only waits for a Redis still
 *   loading its data set, and a command that meets LOADING fails and falls back anyway.
 *   (A password in REDIS_URL still sends AUTH, which the timeout also covers.)
 * - No `socketTimeout`: an idle socket is not a dead one; a slow command is bounded by
 *   `commandTimeout` alone, which rejects that command and leaves the connection up.
 * - `keepAlive` (TCP keep-alive after 10 s idle) finds a peer that vanished without a FIN.
 * - `maxRetriesPerRequest: 1` and no offline queue: a command never waits for a reconnect.
 */
export function redisClientOptions(commandTimeoutMs: number): RedisOptions {
  return {
    lazyConnect: false,
    connectTimeout: 2000,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    protocol: 2,
    enableReadyCheck: false,
    disableClientInfo: true,
    keepAlive: 10_000,
    noDelay: true,
    autoResubscribe: false,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
  };
}

/**
 * Follows the connection state of every Redis client and reports it to the dependency
 * monitor: Redis is down when a client's connection closes or cannot be opened, and up again
 * when every client is ready. A command that timed out on a connection that is still up is
 * not an outage: it is reported as slow (logged at most every few seconds, counted), and
 * readiness does not change. The 'error' listener also keeps ioredis from crashing the
 * process with an unhandled event; reconnect errors are not logged one by one, the monitor
 * logs the outage once.
 */
export class RedisWatch {
  readonly #monitor: DependencyMonitor;
  readonly #clients = new Set<Redis>();
  #lastCause = 'not connected yet';

  constructor(monitor: DependencyMonitor) {
    this.#monitor = monitor;
  }

  add(client: Redis): void {
    this.#clients.add(client);
    client.on('error', (error: Error) => {
      const cause = `${(error as { code?: string }).code ?? 'redis'}: ${error.message}`;
      if (isTimeout(error) && client.status === 'ready') {
        this.#monitor.reportSlow('redis', cause);
        return;
      }
      this.#lastCause = cause;
      // A ready connection that errs also closes; the 'close' below reports that.
      if (client.status !== 'ready') this.#monitor.markDown('redis', cause);
    });
    client.on('close', () => {
      if (client.status !== 'end') this.#monitor.markDown('redis', this.#lastCause);
    });
    client.on('ready', () => {
      if (this.allReady()) this.#monitor.markUp('redis');
    });
  }

  get configured(): boolean {
    return this.#clients.size > 0;
  }

  allReady(): boolean {
    for (const client of this.#clients) if (client.status !== 'ready') return false;
    return true;
  }
}
