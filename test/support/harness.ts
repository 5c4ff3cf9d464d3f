import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { buildApp } from '../../src/app.ts';
import { createUser } from '../../src/auth/auth-service.ts';
import type { Role } from '../../src/auth/roles.ts';
import type { Engine } from '../../src/db/database.ts';
import type { App } from '../../src/http/types.ts';
import { openRuntime, type Runtime } from '../../src/runtime.ts';
import { totpCode } from './totp.ts';

/**
 * Test fixtures on real databases. Every suite gets its own SQLite file, or its own fresh
 * PostgreSQL database created on the server named by TEST_DATABASE_URL (default: the local
 * server's `postgres` database as user `postgres`) and dropped afterwards. Setting
 * TEST_DATABASE_URL=off runs SQLite only; an unreachable server fails the suite loudly.
 */
export const PG_ADMIN_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const ENGINES: Engine[] = PG_ADMIN_URL === 'off' ? ['sqlite'] : ['sqlite', 'postgres'];

export interface TestDatabase {
  engine: Engine;
  /** Environment that points a runtime (or a child process) at this database. */
  env: Record<string, string>;
  dataDir: string;
  dispose(): Promise<void>;
}

export async function createTestDatabase(engine: Engine): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-test-'));
  const env: Record<string, string> = { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: dataDir };
  let dropDatabase = async () => {};
  if (engine === 'postgres') {
    const name = `corebank_t_${crypto.randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`create database ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    env.DATABASE_URL = url.toString();
    dropDatabase = async () => {
      const client = new pg.Client({ connectionString: PG_ADMIN_URL });
      await client.connect();
      try {
        // pg's Pool#end resolves before its sockets are fully closed; wait (bounded) until
        // the server sees no session on the database, so the drop kills nobody.
        for (let attempt = 0; attempt < 100; attempt++) {
          const { rows } = await client.query<{ n: string }>(
            'select count(*) as n from pg_stat_activity where datname = $1',
            [name],
          );
          if (rows[0]?.n === '0') break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    };
  }
  return {
    engine,
    env,
    dataDir,
    async dispose() {
      await dropDatabase();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Response<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | number | undefined>;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Send this exact text as the body (for malformed JSON and odd content types). */
  rawBody?: string;
}

export interface TestUser {
  id: string;
  username: string;
  password: string;
  token: string;
  /** The TOTP secret, for staff made by `t.staff` (enrolled and confirmed). */
  mfaSecret?: string;
}

export const DEFAULT_PIN = '2468';
export const DEFAULT_PASSWORD = 'correct horse battery staple';

/** A running app on a fresh database, with helpers that speak the public API. */
export class TestApp {
  readonly app: App;
  readonly runtime: Runtime;
  readonly database: TestDatabase;
  #counter = 0;

  constructor(app: App, runtime: Runtime, database: TestDatabase) {
    this.app = app;
    this.runtime = runtime;
    this.database = database;
  }

  get engine(): Engine {
    return this.runtime.database.engine;
  }

  async request<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    options: RequestOptions = {},
  ): Promise<Response<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    let payload: string | undefined;
    if (options.rawBody !== undefined) {
      payload = options.rawBody;
    } else if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await this.app.inject({
      method,
      url,
      headers,
      ...(payload === undefined ? {} : { payload }),
    });
    const text = response.body;
    let body: unknown = text;
    if (text.length > 0 && /json/.test(String(response.headers['content-type'] ?? ''))) {
      body = JSON.parse(text);
    }
    return { status: response.statusCode, body: body as T, headers: response.headers };
  }

  uniqueName(prefix = 'user'): string {
    this.#counter += 1;
    return `${prefix}${this.#counter}_${crypto.randomBytes(3).toString('hex')}`;
  }

  async login(username: string, password: string): Promise<string> {
    const response = await this.request<{ accessToken: string }>('POST', '/api/v1/auth/login', {
      body: { username, password },
    });
    if (response.status !== 200) {
      throw new Error(`login failed: ${response.status} ${JSON.stringify(response.body)}`);
    }
    return response.body.accessToken;
  }

  /** Registers a customer through the API, logs in and (by default) sets the PIN. */
  async customer(options: { pin?: string | null } = {}): Promise<TestUser> {
    const username = this.uniqueName('cust');
    const response = await this.request<{ id: string }>('POST', '/api/v1/auth/register', {
      body: {
        username,
        password: DEFAULT_PASSWORD,
        fullName: `Customer ${username}`,
        email: `${username}@example.com`,
      },
    });
    if (response.status !== 201) {
      throw new Error(`register failed: ${response.status} ${JSON.stringify(response.body)}`);
    }
    const token = await this.login(username, DEFAULT_PASSWORD);
    const pin = options.pin === undefined ? DEFAULT_PIN : options.pin;
    if (pin !== null) {
      const set = await this.request('PUT', '/api/v1/me/pin', {
        token,
        body: { password: DEFAULT_PASSWORD, pin },
      });
      if (set.status !== 204) throw new Error(`set pin failed: ${set.status}`);
    }
    return { id: response.body.id, username, password: DEFAULT_PASSWORD, token };
  }

  /**
   * Creates a staff user the way an operator does (the CLI's code path), logs in, and
   * enrols and confirms MFA through the API, as every staff member must before any staff
   * action (issue #10, item 6). Step-up actions take `t.staffOtp(staff)`.
   */
  async staff(role: Role): Promise<TestUser> {
    const staff = await this.staffWithoutMfa(role);
    const enrol = await this.request<{ secret: string }>('POST', '/api/v1/me/mfa/enrol', {
      token: staff.token,
      body: { password: DEFAULT_PASSWORD },
    });
    if (enrol.status !== 200) {
      throw new Error(`mfa enrol failed: ${enrol.status} ${JSON.stringify(enrol.body)}`);
    }
    const confirm = await this.request('POST', '/api/v1/me/mfa/confirm', {
      token: staff.token,
      body: { code: totpCode(enrol.body.secret) },
    });
    if (confirm.status !== 200) {
      throw new Error(`mfa confirm failed: ${confirm.status} ${JSON.stringify(confirm.body)}`);
    }
    return { ...staff, mfaSecret: enrol.body.secret };
  }

  /** A staff user who has not enrolled MFA yet: refused on every staff route. */
  async staffWithoutMfa(role: Role): Promise<TestUser> {
    const username = this.uniqueName(role);
    const user = await createUser(
      this.runtime.database.db,
      {
        username,
        password: DEFAULT_PASSWORD,
        fullName: `Staff ${username}`,
        email: `${username}@bank.example`,
      },
      [role],
    );
    const token = await this.login(username, DEFAULT_PASSWORD);
    return { id: user.id, username, password: DEFAULT_PASSWORD, token };
  }

  /**
   * A current TOTP code for a staff step-up. A code is good once per 30-second step (replay
   * refusal is tested in test/mfa.test.ts and test/credential-guard.test.ts); so that a suite
   * can take several step-ups in one step, this forgets the step the staff member used last,
   * as if the next 30 seconds had passed. Only the test database is touched.
   */
  async staffOtp(staff: TestUser): Promise<string> {
    if (staff.mfaSecret === undefined) throw new Error(`${staff.username} has no MFA secret`);
    await this.runtime.database.db
      .updateTable('user_mfa')
      .set({ last_used_step: null })
      .where('user_id', '=', staff.id)
      .execute();
    return totpCode(staff.mfaSecret);
  }

  async openAccount(
    user: TestUser,
    body: Record<string, unknown> = {},
  ): Promise<{ accountNumber: string; currency: string; balance: string }> {
    const response = await this.request<{
      accountNumber: string;
      currency: string;
      balance: string;
    }>('POST', '/api/v1/accounts', { token: user.token, body });
    if (response.status !== 201) {
      throw new Error(`open account failed: ${response.status} ${JSON.stringify(response.body)}`);
    }
    return response.body;
  }

  deposit(
    user: TestUser,
    accountNumber: string,
    amount: string,
    headers: Record<string, string> = {},
  ) {
    return this.request('POST', `/api/v1/accounts/${accountNumber}/deposits`, {
      token: user.token,
      body: { amount },
      headers,
    });
  }

  withdraw(
    user: TestUser,
    accountNumber: string,
    amount: string,
    options: { pin?: string; headers?: Record<string, string> } = {},
  ) {
    return this.request('POST', `/api/v1/accounts/${accountNumber}/withdrawals`, {
      token: user.token,
      body: { amount, pin: options.pin ?? DEFAULT_PIN },
      headers: options.headers ?? {},
    });
  }

  transfer(
    user: TestUser,
    from: string,
    to: string,
    amount: string,
    options: { pin?: string; headers?: Record<string, string>; description?: string } = {},
  ) {
    return this.request('POST', `/api/v1/accounts/${from}/transfers`, {
      token: user.token,
      body: {
        toAccount: to,
        amount,
        pin: options.pin ?? DEFAULT_PIN,
        ...(options.description === undefined ? {} : { description: options.description }),
      },
      headers: options.headers ?? {},
    });
  }

  async balance(user: TestUser, accountNumber: string): Promise<string> {
    const response = await this.request<{ balance: string }>(
      'GET',
      `/api/v1/accounts/${accountNumber}`,
      {
        token: user.token,
      },
    );
    if (response.status !== 200) throw new Error(`read account failed: ${response.status}`);
    return response.body.balance;
  }

  /** A customer with one USD account holding `amount`. */
  async fundedCustomer(amount = '1000.00'): Promise<{ user: TestUser; account: string }> {
    const user = await this.customer();
    const { accountNumber } = await this.openAccount(user);
    const response = await this.deposit(user, accountNumber, amount);
    if (response.status !== 201) throw new Error(`deposit failed: ${response.status}`);
    return { user, account: accountNumber };
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.runtime.database.close();
    await this.database.dispose();
  }
}

export async function createTestApp(
  engine: Engine,
  overrides: Record<string, string> = {},
): Promise<TestApp> {
  const database = await createTestDatabase(engine);
  // Suites fire hundreds of requests; rate limits are off unless a test turns them on. The
  // per-client limits on registration, reset requests and login across usernames are
  // raised, because suites that test other limits register many users from one address
  // (test/credential-guard.test.ts tests these limits at their defaults).
  const runtime = await openRuntime({
    ...database.env,
    RATE_LIMITS: 'off',
    RATE_LIMIT_REGISTER_PER_MINUTE: '10000',
    RATE_LIMIT_PASSWORD_RESET_PER_MINUTE: '10000',
    RATE_LIMIT_LOGIN_PER_CLIENT_PER_MINUTE: '10000',
    // Suites open with bursts of parallel set-up (40 customers funded at once) on a machine
    // that runs two suites and two engines together: the production deadlines for waiting
    // (LEDGER_MAX_WAIT_MS 1 s, a pooled connection 5 s) would shed set-up with 503. Shedding
    // and outages are tested with their own settings (test/reliability.test.ts, test/chaos/).
    LEDGER_MAX_WAIT_MS: '30000',
    // For the same reason, no shedding at the door (bursts of 200 requests at once); it has
    // its own tests (test/reliability.test.ts, test/chaos/overload.chaos.ts).
    ADMISSION_TARGET_MS: '0',
    DATABASE_CONNECT_TIMEOUT_MS: '30000',
    ...overrides,
  });
  const app = await buildApp(runtime);
  await app.ready();
  return new TestApp(app, runtime, database);
}
