import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { buildApp } from '../src/app.ts';
import { openRuntime } from '../src/runtime.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/harness.ts';
import { childEnv, ProcessGroup, type RunResult } from './support/process.ts';

/** A stack frame line as Node prints it ("    at main (file:///...)"). */
const STACK_FRAME = /^\s+at .+/m;

const OPS_PASSWORD = 'operator password, long enough';

function describeRun(result: RunResult): string {
  return `exit ${result.code} signal ${result.signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/** Non-zero exit, one clear `corebank: ...` line on stderr, no stack trace, nothing on stdout. */
function assertCleanFailure(result: RunResult, message: RegExp): void {
  assert.notEqual(result.code, 0, describeRun(result));
  assert.equal(result.signal, null, describeRun(result));
  assert.match(result.stderr, message, describeRun(result));
  assert.doesNotMatch(result.stderr, STACK_FRAME, `stack trace on stderr:\n${result.stderr}`);
  assert.equal(result.stderr.trim().split('\n').length, 1, describeRun(result));
  assert.equal(result.stdout, '', describeRun(result));
}

for (const engine of ENGINES) {
  describe(`operator CLI [${engine}]`, () => {
    const processes = new ProcessGroup();
    let database: TestDatabase;
    let env: NodeJS.ProcessEnv;
    const cli = (args: readonly string[], input?: string) =>
      processes.runCli(args, input === undefined ? { env } : { env, input });

    before(async () => {
      database = await createTestDatabase(engine);
      env = childEnv(database.env);
    });
    after(async () => {
      await processes.killAll();
      await database.dispose();
    });

    it('migrate applies 0001-initial once, then says it is up to date', async () => {
      const first = await cli(['migrate']);
      assert.equal(first.code, 0, describeRun(first));
      assert.match(first.stdout, /applied 0001-initial/, describeRun(first));
      const second = await cli(['migrate']);
      assert.equal(second.code, 0, describeRun(second));
      assert.match(second.stdout, /already up to date/, describeRun(second));
      assert.doesNotMatch(second.stdout, /0001-initial/);
    });

    it('users create prints the new admin, who can then log in through the API', async () => {
      const result = await cli([
        'users',
        'create',
        '--username',
        'ops1',
        '--password',
        OPS_PASSWORD,
        '--role',
        'admin',
        '--full-name',
        'Ops One',
        '--email',
        'ops1@bank.example',
      ]);
      assert.equal(result.code, 0, describeRun(result));
      const user = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.equal(user.username, 'ops1');
      assert.equal(user.fullName, 'Ops One');
      assert.equal(user.email, 'ops1@bank.example');
      assert.deepEqual(user.roles, ['admin']);
      assert.equal(typeof user.id, 'string');
      // The printed user is a view: no hash or other credential material.
      assert.doesNotMatch(result.stdout, /argon2|password|hash/i);
      // Staff must enrol MFA before any staff action: the CLI says how, on stderr.
      assert.match(result.stderr, /ops1 is staff .*two-factor authentication/, describeRun(result));
      assert.match(result.stderr, /POST \/api\/v1\/me\/mfa\/enrol.*\/me\/mfa\/confirm/);

      // An app on the same database (and DATA_DIR, for the secrets) accepts the login.
      const runtime = await openRuntime(env);
      const app = await buildApp(runtime);
      try {
        const login = await app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: 'ops1', password: OPS_PASSWORD },
        });
        assert.equal(login.statusCode, 200, login.body);
        const { accessToken } = login.json() as { accessToken: string };
        const me = await app.inject({
          method: 'GET',
          url: '/api/v1/me',
          headers: { authorization: `Bearer ${accessToken}` },
        });
        assert.equal(me.statusCode, 200, me.body);
        const body = me.json() as { id: string; roles: string[] };
        assert.equal(body.id, user.id);
        assert.deepEqual(body.roles, ['admin']);
        // Until they enrol MFA, staff routes refuse them.
        const users = await app.inject({
          method: 'GET',
          url: '/api/v1/admin/users',
          headers: { authorization: `Bearer ${accessToken}` },
        });
        assert.equal(users.statusCode, 403, users.body);
        assert.equal((users.json() as { code: string }).code, 'MFA_ENROLMENT_REQUIRED');
        // Staff-only reads work for this admin; a wrong password still does not log in.
        const wrong = await app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: 'ops1', password: `${OPS_PASSWORD}!` },
        });
        assert.equal(wrong.statusCode, 401, wrong.body);
      } finally {
        await app.close();
        await runtime.database.close();
      }
    });

    it('users create --password-stdin reads the password from stdin (several roles)', async () => {
      const password = 'from stdin, with spaces and $ymbols';
      const result = await cli(
        ['users', 'create', '--username', 'ops2', '--password-stdin', '--role', 'teller,auditor'],
        `${password}\n`,
      );
      assert.equal(result.code, 0, describeRun(result));
      const user = JSON.parse(result.stdout) as { username: string; roles: string[] };
      assert.equal(user.username, 'ops2');
      assert.deepEqual([...user.roles].sort(), ['auditor', 'teller']);

      const runtime = await openRuntime(env);
      const app = await buildApp(runtime);
      try {
        // The trailing newline from the pipe is not part of the password.
        const login = await app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: 'ops2', password },
        });
        assert.equal(login.statusCode, 200, login.body);
      } finally {
        await app.close();
        await runtime.database.close();
      }
    });

    it('users create refuses a missing --role with a clear message', async () => {
      const result = await cli([
        'users',
        'create',
        '--username',
        'ops3',
        '--password',
        OPS_PASSWORD,
      ]);
      assertCleanFailure(result, /--role/);
    });

    it('users create refuses an unknown role', async () => {
      const result = await cli([
        'users',
        'create',
        '--username',
        'ops3',
        '--password',
        OPS_PASSWORD,
        '--role',
        'superuser',
      ]);
      assertCleanFailure(result, /unknown role "superuser"/);
    });

    it('users create refuses a short password', async () => {
      const result = await cli([
        'users',
        'create',
        '--username',
        'ops3',
        '--password',
        'short',
        '--role',
        'admin',
      ]);
      assertCleanFailure(result, /password must be 12 to 128 characters/);
    });

    it('users create refuses a duplicate username (in any letter case)', async () => {
      for (const username of ['ops1', 'OPS1']) {
        const result = await cli([
          'users',
          'create',
          '--username',
          username,
          '--password',
          OPS_PASSWORD,
          '--role',
          'auditor',
        ]);
        assertCleanFailure(result, /USERNAME_TAKEN|username is taken/);
      }
    });

    it('refused users create commands left no user behind', async () => {
      const runtime = await openRuntime(env);
      try {
        const rows = await runtime.database.db
          .selectFrom('users')
          .select('username')
          .orderBy('username')
          .execute();
        assert.deepEqual(
          rows.map((row) => row.username),
          ['ops1', 'ops2'],
        );
      } finally {
        await runtime.database.close();
      }
    });

    it('users create refuses an unknown flag or a flag without its value, without a stack trace', async () => {
      const unknownFlag = await cli([
        'users',
        'create',
        '--username',
        'ops4',
        '--password',
        OPS_PASSWORD,
        '--role',
        'admin',
        '--bogus',
        'x',
      ]);
      assertCleanFailure(unknownFlag, /--bogus/);
      const missingValue = await cli(['users', 'create', '--role', 'admin', '--username']);
      assertCleanFailure(missingValue, /--username/);
    });

    it('ledger verify says OK on a clean ledger, and exits 1 naming a tampered account', async () => {
      // Real money movement through the API, so verify has something to check.
      const runtime = await openRuntime(env);
      const app = await buildApp(runtime);
      let accountNumber = '';
      try {
        const register = await app.inject({
          method: 'POST',
          url: '/api/v1/auth/register',
          payload: {
            username: 'saver',
            password: OPS_PASSWORD,
            fullName: 'Saver',
            email: 'saver@example.com',
          },
        });
        assert.equal(register.statusCode, 201, register.body);
        const login = await app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: 'saver', password: OPS_PASSWORD },
        });
        const { accessToken } = login.json() as { accessToken: string };
        const headers = { authorization: `Bearer ${accessToken}` };
        const open = await app.inject({
          method: 'POST',
          url: '/api/v1/accounts',
          headers,
          payload: {},
        });
        assert.equal(open.statusCode, 201, open.body);
        accountNumber = (open.json() as { accountNumber: string }).accountNumber;
        for (const amount of ['10.00', '2.50']) {
          const deposit = await app.inject({
            method: 'POST',
            url: `/api/v1/accounts/${accountNumber}/deposits`,
            headers,
            payload: { amount },
          });
          assert.equal(deposit.statusCode, 201, deposit.body);
        }

        const clean = await cli(['ledger', 'verify']);
        assert.equal(clean.code, 0, describeRun(clean));
        assert.match(clean.stdout, /\bOK\b/, describeRun(clean));
        assert.match(clean.stdout, /2 entries, 4 postings, 2 accounts/, describeRun(clean));

        await sql`update accounts set balance_minor = balance_minor + 1 where account_number = ${accountNumber}`.execute(
          runtime.database.db,
        );
        const tampered = await cli(['ledger', 'verify']);
        assert.equal(tampered.code, 1, describeRun(tampered));
        assert.doesNotMatch(tampered.stdout, /\bOK\b/);
        assert.match(`${tampered.stdout}${tampered.stderr}`, new RegExp(accountNumber));
        assert.match(`${tampered.stdout}${tampered.stderr}`, /FAILED/);
        assert.doesNotMatch(tampered.stderr, STACK_FRAME);
      } finally {
        if (accountNumber !== '') {
          await sql`update accounts set balance_minor = balance_minor - 1 where account_number = ${accountNumber}`.execute(
            runtime.database.db,
          );
        }
        await app.close();
        await runtime.database.close();
      }
      const repaired = await cli(['ledger', 'verify']);
      assert.equal(repaired.code, 0, describeRun(repaired));
    });

    it('no arguments, or an unknown command, prints usage and exits 2', async () => {
      for (const args of [[], ['frobnicate'], ['ledger'], ['ledger', 'verify', 'extra']]) {
        const result = await cli(args);
        assert.equal(result.code, 2, `${args.join(' ')}: ${describeRun(result)}`);
        assert.match(result.stderr, /^usage: /m, describeRun(result));
        assert.match(result.stderr, /users create/);
        assert.match(result.stderr, /ledger verify/);
        assert.match(result.stderr, /migrate/);
        assert.doesNotMatch(result.stderr, STACK_FRAME);
      }
    });
  });
}
