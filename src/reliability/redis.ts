import type { Redis, RedisOptions } from 'ioredis';
import type { DependencyMonitor } from './dependencies.ts';

/**
 * Options for every Redis client of the server. Redis is optional infrastructure here
 * (shared counters, revocation fan-out), so no request may wait long for it and the server
 * must start without it: the client connects in the background and keeps reconnecting
 * (capped at 2 s between attempts), commands fail after `commandTimeoutMs` instead of
 * queueing behind a dead connection, and the callers fall back as documented.
 */
export function redisClientOptions(commandTimeoutMs: number): RedisOptions {
  return {
    lazyConnect: false,
    connectTimeout: 2000,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    autoResubscribe: false,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
  };
}

/**
 * Follows the connection state of every Redis client and reports it to the dependency
 * monitor: Redis is up when every client is ready, down (with the last error) otherwise.
 * The 'error' listener also keeps ioredis from crashing the process with an unhandled event;
 * reconnect errors are not logged one by one, the monitor logs the outage once.
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
      this.#lastCause = `${(error as { code?: string }).code ?? 'redis'}: ${error.message}`;
      this.#monitor.markDown('redis', this.#lastCause);
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
