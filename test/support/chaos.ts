import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { freePort, httpJson } from './process.ts';

/**
 * Dependencies a test may break: a PostgreSQL cluster and a Redis server of its own, on
 * their own ports and directories (never the shared ones), plus a load client that records
 * every answer so a test can prove nothing acknowledged was lost or applied twice.
 */
const PG_BIN = '/usr/lib/postgresql/15/bin';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 50 ms until it returns true or `timeoutMs` passes. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    try {
      if (await check()) return performance.now() - started;
    } catch {
      // not yet
    }
    if (performance.now() - started > timeoutMs)
      throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function exited(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * A PostgreSQL cluster of the test's own: initdb into a temporary directory (owned by the
 * `postgres` user when the tests run as root, since PostgreSQL refuses to run as root), the
 * postmaster started as a child in its own process group so kill -9 takes every backend.
 */
export class OwnPostgres {
  readonly dir: string;
  readonly port: number;
  #child: ChildProcess | undefined;
  readonly #ids: { uid: number; gid: number } | undefined;
  log = '';

  private constructor(dir: string, port: number, ids: { uid: number; gid: number } | undefined) {
    this.dir = dir;
    this.port = port;
    this.#ids = ids;
  }

  static async create(): Promise<OwnPostgres> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-pg-'));
    let ids: { uid: number; gid: number } | undefined;
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      ids = { uid, gid };
      fs.chownSync(dir, uid, gid);
    }
    execFileSync(
      `${PG_BIN}/initdb`,
      ['-D', path.join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'],
      { stdio: 'ignore', ...(ids ?? {}) },
    );
    const cluster = new OwnPostgres(dir, await freePort(), ids);
    await cluster.start();
    return cluster;
  }

  /**
   * A hot standby of `primary`, streaming from it: `pg_basebackup -R` into a temporary
   * directory of its own (the primary's default `wal_level=replica` and `max_wal_senders`
   * allow it; initdb's pg_hba trusts loopback replication; a fast checkpoint, or the backup
   * waits for the next spread one), started on its own port.
   */
  static async standbyOf(primary: OwnPostgres): Promise<OwnPostgres> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-pg-standby-'));
    const ids = primary.#ids;
    if (ids !== undefined) fs.chownSync(dir, ids.uid, ids.gid);
    execFileSync(
      `${PG_BIN}/pg_basebackup`,
      [
        ...['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres'],
        ...['-D', path.join(dir, 'data'), '-R', '-X', 'stream', '--no-sync', '--checkpoint=fast'],
      ],
      { stdio: 'ignore', ...(ids ?? {}) },
    );
    const standby = new OwnPostgres(dir, await freePort(), ids);
    await standby.start();
    return standby;
  }

  get adminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  urlOf(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    this.#child = spawn(
      `${PG_BIN}/postgres`,
      [
        '-D',
        path.join(this.dir, 'data'),
        '-p',
        String(this.port),
        '-k',
        this.dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'max_connections=60',
        '-c',
        'shared_buffers=32MB',
        '-c',
        'wal_level=replica',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(this.#ids ?? {}) },
    );
    const child = this.#child;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.log += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.log += chunk;
    });
    await waitFor('own PostgreSQL accepting connections', async () => {
      const client = new pg.Client({ connectionString: this.adminUrl });
      try {
        await client.connect();
        await client.query('select 1');
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    });
  }

  async createDatabase(): Promise<string> {
    const name = `corebank_c_${crypto.randomBytes(5).toString('hex')}`;
    const client = new pg.Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      await client.query(`create database ${name}`);
    } finally {
      await client.end();
    }
    return name;
  }

  /** Fast shutdown (SIGINT to the postmaster): every backend is told 57P01 and ends. */
  async stopFast(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill('SIGINT');
    await exited(child);
  }

  /** kill -9 of the postmaster and every backend (its process group). */
  async kill9(): Promise<void> {
    const child = this.#child;
    if (child?.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
    await exited(child);
    // Backends die with the group; give the kernel a moment to release the shared memory.
    await sleep(200);
  }

  /** A DBA ending every backend of `database` (pg_terminate_backend): each gets 57P01. */
  async terminateBackends(database: string): Promise<number> {
    const client = new pg.Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      const result = await client.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
        [database],
      );
      return result.rowCount ?? 0;
    } finally {
      await client.end();
    }
  }

  async dispose(): Promise<void> {
    await this.kill9();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Redis server of the test's own, without persistence. */
export class OwnRedis {
  readonly port: number;
  readonly dir: string;
  #child: ChildProcess | undefined;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  static async create(start = true): Promise<OwnRedis> {
    const redis = new OwnRedis(
      await freePort(),
      fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-redis-')),
    );
    if (start) await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.#child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
      ],
      { stdio: 'ignore' },
    );
    await waitFor('own Redis accepting connections', async () => {
      const { Redis } = await import('ioredis');
      const client = new Redis(this.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return (await client.ping()) === 'PONG';
      } finally {
        client.disconnect();
      }
    });
  }

  async kill9(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill('SIGKILL');
    await exited(child);
  }

  async dispose(): Promise<void> {
    await this.kill9();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export const PASSWORD = 'correct horse battery staple';
export const PIN = '2468';

export interface LoadCustomer {
  token: string;
  account: string;
}

/** Customers with one funded USD account each, made through the public API. */
export async function makeCustomers(
  baseUrl: string,
  count: number,
  prefix: string,
  fundsMajor = '100000.00',
): Promise<LoadCustomer[]> {
  const customers: LoadCustomer[] = [];
  for (let i = 0; i < count; i++) {
    const username = `${prefix}${i}`;
    const register = await httpJson(baseUrl, 'POST', '/api/v1/auth/register', {
      body: {
        username,
        password: PASSWORD,
        fullName: `Load ${i}`,
        email: `${username}@example.com`,
      },
    });
    assert.equal(register.status, 201, JSON.stringify(register.body));
    const login = await httpJson<{ accessToken: string }>(baseUrl, 'POST', '/api/v1/auth/login', {
      body: { username, password: PASSWORD },
    });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const token = login.body.accessToken;
    const pin = await httpJson(baseUrl, 'PUT', '/api/v1/me/pin', {
      token,
      body: { password: PASSWORD, pin: PIN },
    });
    assert.equal(pin.status, 204, JSON.stringify(pin.body));
    const account = await httpJson<{ accountNumber: string }>(baseUrl, 'POST', '/api/v1/accounts', {
      token,
      body: {},
    });
    assert.equal(account.status, 201, JSON.stringify(account.body));
    const deposit = await httpJson(
      baseUrl,
      'POST',
      `/api/v1/accounts/${account.body.accountNumber}/deposits`,
      {
        token,
        body: { amount: fundsMajor },
      },
    );
    assert.equal(deposit.status, 201, JSON.stringify(deposit.body));
    customers.push({ token, account: account.body.accountNumber });
  }
  return customers;
}

export interface Attempt {
  key: string;
  from: LoadCustomer;
  to: LoadCustomer;
  /** HTTP status, or 0 when no answer came (connection refused or reset). */
  status: number;
  code: string | undefined;
  retryAfter: string | null;
  latencyMs: number;
  /** performance.now() when the answer (or the failure) came. */
  doneAt: number;
}

/** One keyed transfer of 0.01, whose description is its Idempotency-Key (for counting). */
export async function transferOnce(
  baseUrl: string,
  key: string,
  from: LoadCustomer,
  to: LoadCustomer,
  timeoutMs = 15_000,
): Promise<Attempt> {
  const started = performance.now();
  try {
    const response = await fetch(`${baseUrl}/api/v1/accounts/${from.account}/transfers`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${from.token}`,
        'idempotency-key': key,
      },
      body: JSON.stringify({ toAccount: to.account, amount: '0.01', pin: PIN, description: key }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { code?: string }).code;
    } catch {
      code = undefined;
    }
    return {
      key,
      from,
      to,
      status: response.status,
      code,
      retryAfter: response.headers.get('retry-after'),
      latencyMs: performance.now() - started,
      doneAt: performance.now(),
    };
  } catch {
    return {
      key,
      from,
      to,
      status: 0,
      code: undefined,
      retryAfter: null,
      latencyMs: performance.now() - started,
      doneAt: performance.now(),
    };
  }
}

/**
 * Keyed transfers from `workers` loops until `stop()` is called; every attempt is recorded.
 * A worker pauses briefly after an answer that is not 201, so an outage is not a busy loop.
 */
export function runLoad(
  baseUrl: () => string,
  customers: LoadCustomer[],
  workers: number,
  tag: string,
): { attempts: Attempt[]; stop: () => Promise<void> } {
  const attempts: Attempt[] = [];
  let running = true;
  let counter = 0;
  const loops = Array.from({ length: workers }, async (_, w) => {
    while (running) {
      const n = counter++;
      const from = customers[(w + n) % customers.length] as LoadCustomer;
      const to = customers[(w + n + 1) % customers.length] as LoadCustomer;
      const attempt = await transferOnce(baseUrl(), `${tag}-${n}`, from, to, 10_000);
      attempts.push(attempt);
      if (attempt.status !== 201) await sleep(20);
    }
  });
  return {
    attempts,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * Retries every attempt that did not end in 201 with the same key until it does (bounded),
 * and returns the keys that had been acknowledged before the retry.
 */
export async function retryUntilApplied(
  baseUrl: string,
  attempts: Attempt[],
): Promise<{ retried: number; replayed: number }> {
  let retried = 0;
  const replayed = 0;
  for (const attempt of attempts) {
    if (attempt.status === 201) continue;
    retried += 1;
    let last: Attempt | undefined;
    for (let i = 0; i < 50; i++) {
      last = await transferOnce(baseUrl, attempt.key, attempt.from, attempt.to);
      if (
        last.status === 201 ||
        (last.status !== 0 && last.status !== 503 && last.code !== 'IDEMPOTENCY_KEY_IN_PROGRESS')
      )
        break;
      await sleep(100);
    }
    assert.equal(last?.status, 201, `retry of ${attempt.key}: ${last?.status} ${last?.code}`);
  }
  return { retried, replayed };
}

/** Journal entries per description (= Idempotency-Key) with the given prefix. */
export async function entriesByKey(
  env: Record<string, string | undefined>,
  prefix: string,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  if (env.DATABASE_URL !== undefined) {
    const client = new pg.Client({ connectionString: env.DATABASE_URL });
    await client.connect();
    try {
      const result = await client.query<{ description: string; n: string }>(
        'select description, count(*) as n from journal_entries where description like $1 group by description',
        [`${prefix}%`],
      );
      for (const row of result.rows) counts.set(row.description, Number(row.n));
    } finally {
      await client.end();
    }
    return counts;
  }
  const database = new DatabaseSync(path.join(env.DATA_DIR as string, 'corebank.db'), {
    readOnly: true,
  });
  try {
    const rows = database
      .prepare(
        'select description, count(*) as n from journal_entries where description like ? group by description',
      )
      .all(`${prefix}%`) as Array<{ description: string; n: number }>;
    for (const row of rows) counts.set(row.description, Number(row.n));
  } finally {
    database.close();
  }
  return counts;
}

/** Every key answered 201 at some point appears exactly once; no key appears twice. */
export function assertExactlyOnce(
  attempts: Attempt[],
  found: Map<string, number>,
): { acknowledged: number; found: number } {
  const acknowledged = new Set(attempts.filter((a) => a.status === 201).map((a) => a.key));
  for (const key of acknowledged)
    assert.equal(found.get(key), 1, `acknowledged ${key} found ${found.get(key) ?? 0} times`);
  for (const [key, n] of found) assert.equal(n, 1, `${key} applied ${n} times`);
  return {
    acknowledged: acknowledged.size,
    found: [...found.keys()].filter((k) => acknowledged.has(k)).length,
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number;
}
