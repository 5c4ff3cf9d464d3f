import { Gauge, type Registry } from 'prom-client';

/**
 * What Corebank does when something it depends on is down (docs/operations.md, "When a
 * dependency fails"): the error is recognised as an outage rather than a bug, the request
 * is answered 503 `SERVICE_UNAVAILABLE` with `Retry-After`, readiness names the dependency,
 * and the log says so once per outage with the real cause (not once per request, and not
 * with a stack trace: an outage is not a defect in the code).
 */
export type DependencyName = 'database' | 'redis';

export interface DependencyFailure {
  dependency: DependencyName;
  /** The underlying error's own words and code, e.g. `SQLITE_FULL: database or disk is full`. */
  cause: string;
  /**
   * `outage`: the dependency cannot be reached (connection refused or lost, disk full).
   * `slow`: one call outlived its bound on a connection that is still up; the call failed,
   * but the dependency is not down and readiness does not change.
   */
  kind: 'outage' | 'slow';
}

/** PostgreSQL SQLSTATEs that mean "the server or the connection is not usable right now". */
const PG_UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown (fast stop, pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, recovery)
  '57014', // query_canceled (statement_timeout)
  '53300', // too_many_connections
  '53100', // disk_full
  '53200', // out_of_memory
  '25P03', // idle_in_transaction_session_timeout
  '25006', // read_only_sql_transaction (a failover left us on a standby)
]);

/** Node socket errors: the server is not there, or went away mid-conversation. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Primary SQLite result codes (extended code & 0xff) that are the disk's or the lock's fault. */
const SQLITE_UNAVAILABLE: ReadonlyMap<number, string> = new Map([
  [5, 'SQLITE_BUSY'],
  [6, 'SQLITE_LOCKED'],
  [8, 'SQLITE_READONLY'],
  [10, 'SQLITE_IOERR'],
  [13, 'SQLITE_FULL'],
  [14, 'SQLITE_CANTOPEN'],
]);

/** pg's own messages for a connection that failed or timed out (they carry no code). */
const PG_CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'is not queryable',
  'Client was closed and is not queryable',
  'the database system is',
];

/** ioredis's errors when the server cannot be reached. */
const REDIS_MESSAGES = [
  'Connection is closed',
  "Stream isn't writeable",
  'Reached the max retries per request limit',
];

/** ioredis's rejection of one command that outlived `commandTimeout`; the connection stays. */
const REDIS_TIMEOUT_MESSAGE = 'Command timed out';

/** A Redis command that timed out (slow), as opposed to a connection that is gone. */
export function isTimeout(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { message?: unknown }).message === 'string' &&
    (error as { message: string }).message.includes(REDIS_TIMEOUT_MESSAGE)
  );
}

interface ErrorFields {
  code?: unknown;
  errcode?: unknown;
  errstr?: unknown;
  message?: unknown;
  name?: unknown;
  cause?: unknown;
}

function describe(fields: ErrorFields): string {
  const message = typeof fields.message === 'string' ? fields.message : String(fields.message);
  return typeof fields.code === 'string' && !message.includes(fields.code)
    ? `${fields.code}: ${message}`
    : message;
}

/**
 * Recognises an error thrown by the database driver or Redis client as an outage of that
 * dependency; anything else (a constraint, a bug) returns undefined and stays a 500.
 */
export function dependencyFailureOf(error: unknown, depth = 0): DependencyFailure | undefined {
  if (typeof error !== 'object' || error === null || depth > 3) return undefined;
  const fields = error as ErrorFields;
  const message = typeof fields.message === 'string' ? fields.message : '';
  if (typeof fields.errcode === 'number') {
    const name = SQLITE_UNAVAILABLE.get(fields.errcode & 0xff);
    if (name !== undefined) {
      const text = typeof fields.errstr === 'string' ? fields.errstr : message;
      return { dependency: 'database', cause: `${name}: ${text}`, kind: 'outage' };
    }
  }
  if (isTimeout(error)) return { dependency: 'redis', cause: describe(fields), kind: 'slow' };
  if (
    fields.name === 'MaxRetriesPerRequestError' ||
    REDIS_MESSAGES.some((m) => message.includes(m))
  ) {
    return { dependency: 'redis', cause: describe(fields), kind: 'outage' };
  }
  if (typeof fields.code === 'string') {
    if (PG_UNAVAILABLE_CODES.has(fields.code) || fields.code.startsWith('08')) {
      return { dependency: 'database', cause: describe(fields), kind: 'outage' };
    }
    if (NETWORK_CODES.has(fields.code)) {
      return { dependency: 'database', cause: describe(fields), kind: 'outage' };
    }
  }
  if (PG_CONNECTION_MESSAGES.some((m) => message.includes(m))) {
    return { dependency: 'database', cause: describe(fields), kind: 'outage' };
  }
  // AggregateError (pg on a host with several addresses) and wrapped errors.
  if (Array.isArray((error as { errors?: unknown }).errors)) {
    for (const inner of (error as { errors: unknown[] }).errors) {
      const found = dependencyFailureOf(inner, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return fields.cause === undefined ? undefined : dependencyFailureOf(fields.cause, depth + 1);
}

export interface DependencyLog {
  error(object: object, message: string): void;
  warn(object: object, message: string): void;
  info(object: object, message: string): void;
}

interface DownState {
  since: number;
  cause: string;
}

/** How often, at most, a dependency that keeps being slow is logged. */
const SLOW_LOG_INTERVAL_MS = 10_000;

interface SlowState {
  total: number;
  /** Slow calls since the last log line about them. */
  unlogged: number;
  loggedAtMs: number;
}

/**
 * The state of each dependency as this process last saw it. Going down is logged once, at
 * error level, with the cause that was seen first; coming back is logged once with how long
 * it was down. Readiness reads it; while the database is down a probe runs every second so
 * recovery is noticed without waiting for traffic.
 *
 * A slow call (a timeout on a connection that is still up) is not an outage: it is counted,
 * logged at warn level at most every ten seconds with how many there were, and changes
 * nothing else. Reporting it as down would flip readiness and log an outage for every
 * command that met a busy moment.
 */
export class DependencyMonitor {
  readonly #down = new Map<DependencyName, DownState>();
  readonly #slow = new Map<DependencyName, SlowState>();
  readonly #outages = new Map<DependencyName, number>();
  readonly #log: DependencyLog;
  readonly #probes = new Map<DependencyName, () => Promise<void>>();
  readonly #timers = new Map<DependencyName, NodeJS.Timeout>();
  #closed = false;

  constructor(log: DependencyLog) {
    this.#log = log;
  }

  /** A check that succeeds only when the dependency works again (run while it is down). */
  setProbe(dependency: DependencyName, probe: () => Promise<void>): void {
    this.#probes.set(dependency, probe);
  }

  isDown(dependency: DependencyName): boolean {
    return this.#down.has(dependency);
  }

  /** Dependencies that are down now, with the cause first seen. */
  downNow(): ReadonlyMap<DependencyName, DownState> {
    return this.#down;
  }

  /** Times each dependency went down since start (each outage once). */
  outages(dependency: DependencyName): number {
    return this.#outages.get(dependency) ?? 0;
  }

  /** Calls that timed out on a connection that stayed up, since start. */
  slowCalls(dependency: DependencyName): number {
    return this.#slow.get(dependency)?.total ?? 0;
  }

  markDown(dependency: DependencyName, cause: string): void {
    if (this.#closed || this.#down.has(dependency)) return;
    this.#down.set(dependency, { since: Date.now(), cause });
    this.#outages.set(dependency, this.outages(dependency) + 1);
    this.#log.error({ dependency, cause }, `${dependency} unavailable`);
    this.#startProbing(dependency);
  }

  markUp(dependency: DependencyName): void {
    const state = this.#down.get(dependency);
    if (state === undefined) return;
    this.#down.delete(dependency);
    const timer = this.#timers.get(dependency);
    if (timer !== undefined) clearInterval(timer);
    this.#timers.delete(dependency);
    this.#log.info(
      { dependency, downMs: Date.now() - state.since, cause: state.cause },
      `${dependency} recovered`,
    );
  }

  /** A call to `dependency` outlived its bound, but the connection is up (not an outage). */
  reportSlow(dependency: DependencyName, cause: string): void {
    if (this.#closed) return;
    const state = this.#slow.get(dependency) ?? { total: 0, unlogged: 0, loggedAtMs: 0 };
    this.#slow.set(dependency, state);
    state.total += 1;
    state.unlogged += 1;
    const now = Date.now();
    if (now - state.loggedAtMs < SLOW_LOG_INTERVAL_MS) return;
    this.#log.warn(
      { dependency, cause, slowCalls: state.unlogged, slowCallsTotal: state.total },
      `${dependency} slow: calls timed out, connection up`,
    );
    state.unlogged = 0;
    state.loggedAtMs = now;
  }

  /**
   * Records an error if it is a dependency's fault (an outage, or a slow call); returns what
   * it was, or undefined for other errors.
   */
  observe(error: unknown): DependencyFailure | undefined {
    const failure = dependencyFailureOf(error);
    if (failure?.kind === 'slow') this.reportSlow(failure.dependency, failure.cause);
    else if (failure !== undefined) this.markDown(failure.dependency, failure.cause);
    return failure;
  }

  /** Runs the probe now (readiness); marks the dependency up if it passes. */
  async check(dependency: DependencyName): Promise<boolean> {
    const probe = this.#probes.get(dependency);
    if (probe === undefined) return !this.isDown(dependency);
    try {
      await probe();
      this.markUp(dependency);
      return true;
    } catch (error) {
      const failure = dependencyFailureOf(error);
      this.markDown(
        dependency,
        failure?.cause ?? (error instanceof Error ? error.message : String(error)),
      );
      return false;
    }
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearInterval(timer);
    this.#timers.clear();
  }

  #startProbing(dependency: DependencyName): void {
    const probe = this.#probes.get(dependency);
    if (probe === undefined || this.#timers.has(dependency)) return;
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      probe()
        .then(
          () => this.markUp(dependency),
          () => undefined,
        )
        .finally(() => {
          running = false;
        });
    }, 1000);
    timer.unref();
    this.#timers.set(dependency, timer);
  }
}

/** The monitor's counters for `GET /metrics`: outages and slow calls per dependency. */
export function dependencyMetrics(monitor: DependencyMonitor): (registry: Registry) => void {
  return (registry) => {
    const names: DependencyName[] = ['database', 'redis'];
    new Gauge({
      name: 'corebank_dependency_outages_total',
      help: 'Times a dependency went down (each outage once)',
      labelNames: ['dependency'] as const,
      registers: [registry],
      collect() {
        for (const dependency of names) this.set({ dependency }, monitor.outages(dependency));
      },
    });
    new Gauge({
      name: 'corebank_dependency_slow_calls_total',
      help: 'Calls that timed out on a connection that stayed up (slow, not an outage)',
      labelNames: ['dependency'] as const,
      registers: [registry],
      collect() {
        for (const dependency of names) this.set({ dependency }, monitor.slowCalls(dependency));
      },
    });
    new Gauge({
      name: 'corebank_dependency_up',
      help: '1 while the dependency is up as this process sees it, 0 while it is down',
      labelNames: ['dependency'] as const,
      registers: [registry],
      collect() {
        for (const dependency of names) {
          this.set({ dependency }, monitor.isDown(dependency) ? 0 : 1);
        }
      },
    });
  };
}
