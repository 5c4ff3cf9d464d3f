import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { buildApp } from '../src/app.ts';
import type { App } from '../src/http/types.ts';
import { openRuntime, type Runtime } from '../src/runtime.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/harness.ts';
import { childEnv, ProcessGroup, type RunResult } from './support/process.ts';
import { totpCode } from './support/totp.ts';

/**
 * The operator CLI's audited commands: `users create` and `users roles` leave their events,
 * and `audit verify` exits 0 on an intact trail and 1 naming the first bad event.
 */

const STACK_FRAME = /^\s+at .+/m;
const PASSWORD = 'operator password, long enough';

function describeRun(result: RunResult): string {
  return `exit ${result.code} signal ${result.signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

function assertCleanFailure(result: RunResult, code: number, message: RegExp): void {
  assert.equal(result.code, code, describeRun(result));
  assert.match(result.stderr, message, describeRun(result));
  assert.doesNotMatch(result.stderr, STACK_FRAME, describeRun(result));
  assert.equal(result.stdout, '', describeRun(result));
}

interface EventRow {
  id: bigint;
  actor_user_id: string | null;
  action: string;
  target: string | null;
  outcome: string;
  ip: string | null;
  details: string | null;
}

for (const engine of ENGINES) {
  describe(`operator CLI, audited commands [${engine}]`, () => {
    const processes = new ProcessGroup();
    let database: TestDatabase;
    let env: NodeJS.ProcessEnv;
    let runtime: Runtime;
    let app: App;
    const cli = (args: readonly string[]) => processes.runCli(args, { env });

    const events = async (action: string): Promise<EventRow[]> =>
      runtime.database.db
        .selectFrom('audit_events')
        .select(['id', 'actor_user_id', 'action', 'target', 'outcome', 'ip', 'details'])
        .where('action', '=', action)
        .orderBy('id')
        .execute();

    const login = async (username: string) => {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username, password: PASSWORD },
      });
      assert.equal(response.statusCode, 200, response.body);
      return (response.json() as { accessToken: string }).accessToken;
    };

    before(async () => {
      database = await createTestDatabase(engine);
      env = childEnv(database.env, { RATE_LIMITS: 'off' });
      // The app shares the database and DATA_DIR (so the secrets) with the CLI processes.
      // No session cache, so a session the CLI ends is refused at once (the server's default
      // cache lets a revoked session live on for at most a few seconds).
      runtime = await openRuntime({
        ...database.env,
        RATE_LIMITS: 'off',
        SESSION_CACHE_TTL_MS: '0',
      });
      app = await buildApp(runtime);
      await app.ready();
    });
    after(async () => {
      await processes.killAll();
      await app.close();
      await runtime.database.close();
      await database.dispose();
    });

    it('users create records user.created with no actor and the roles', async () => {
      const result = await cli([
        'users',
        'create',
        '--username',
        'boss',
        '--password',
        PASSWORD,
        '--role',
        'admin,auditor',
      ]);
      assert.equal(result.code, 0, describeRun(result));
      const user = JSON.parse(result.stdout) as { id: string };
      const created = await events('user.created');
      assert.equal(created.length, 1);
      const [event] = created;
      assert.equal(event?.actor_user_id, null);
      assert.equal(event?.target, `user:${user.id}`);
      assert.equal(event?.outcome, 'success');
      assert.equal(event?.ip, null);
      assert.deepEqual(JSON.parse(event?.details ?? 'null'), {
        username: 'boss',
        roles: 'admin,auditor',
      });

      // A refused creation (taken username) creates neither a user nor an event.
      const again = await cli([
        'users',
        'create',
        '--username',
        'boss',
        '--password',
        PASSWORD,
        '--role',
        'admin',
      ]);
      assert.notEqual(again.code, 0);
      assert.equal((await events('user.created')).length, 1);
    });

    it('users roles replaces the roles, ends the sessions and records user.roles_changed', async () => {
      const created = await cli([
        'users',
        'create',
        '--username',
        'clerk',
        '--password',
        PASSWORD,
        '--role',
        'admin',
      ]);
      assert.equal(created.code, 0, describeRun(created));
      const { id } = JSON.parse(created.stdout) as { id: string };
      const token = await login('clerk');
      const stats = await app.inject({
        method: 'GET',
        url: '/api/v1/admin/stats',
        headers: { authorization: `Bearer ${token}` },
      });
      // The token works and carries the admin role; staff routes wait for MFA enrolment.
      assert.equal(stats.statusCode, 403, stats.body);
      assert.equal((stats.json() as { code: string }).code, 'MFA_ENROLMENT_REQUIRED');

      const result = await cli([
        'users',
        'roles',
        '--username',
        'Clerk',
        '--set',
        'teller,auditor',
      ]);
      assert.equal(result.code, 0, describeRun(result));
      const change = JSON.parse(result.stdout) as {
        user: { id: string; roles: string[] };
        previousRoles: string[];
        sessionsRevoked: number;
      };
      assert.equal(change.user.id, id);
      assert.deepEqual(change.user.roles, ['auditor', 'teller']);
      assert.deepEqual(change.previousRoles, ['admin']);
      assert.equal(change.sessionsRevoked, 1);

      const roles = await runtime.database.db
        .selectFrom('user_roles')
        .select('role')
        .where('user_id', '=', id)
        .orderBy('role')
        .execute();
      assert.deepEqual(
        roles.map((row) => row.role),
        ['auditor', 'teller'],
      );
      const open = await runtime.database.db
        .selectFrom('sessions')
        .select('id')
        .where('user_id', '=', id)
        .where('revoked_at', 'is', null)
        .execute();
      assert.deepEqual(open, [], 'every session of the user ended');

      const [event] = await events('user.roles_changed');
      assert.equal(event?.actor_user_id, null);
      assert.equal(event?.target, `user:${id}`);
      assert.equal(event?.outcome, 'success');
      assert.deepEqual(JSON.parse(event?.details ?? 'null'), {
        from: 'admin',
        to: 'auditor,teller',
        sessionsRevoked: 1,
      });

      // The old token, which carried the admin role, no longer works at all.
      const stale = await app.inject({
        method: 'POST',
        url: '/api/v1/admin/accounts/123456789092/freeze',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(stale.statusCode, 401, stale.body);

      // A new login carries the new roles: reads yes, admin actions no.
      const fresh = await login('clerk');
      // Staff act only once MFA is on (issue #10, item 6): the clerk enrols first.
      const enrol = await app.inject({
        method: 'POST',
        url: '/api/v1/me/mfa/enrol',
        headers: { authorization: `Bearer ${fresh}` },
        payload: { password: PASSWORD },
      });
      assert.equal(enrol.statusCode, 200, enrol.body);
      const confirm = await app.inject({
        method: 'POST',
        url: '/api/v1/me/mfa/confirm',
        headers: { authorization: `Bearer ${fresh}` },
        payload: { code: totpCode((enrol.json() as { secret: string }).secret) },
      });
      assert.equal(confirm.statusCode, 200, confirm.body);
      const freeze = await app.inject({
        method: 'POST',
        url: '/api/v1/admin/accounts/123456789092/freeze',
        headers: { authorization: `Bearer ${fresh}` },
      });
      assert.equal(freeze.statusCode, 403, freeze.body);
      const read = await app.inject({
        method: 'GET',
        url: '/api/v1/admin/stats',
        headers: { authorization: `Bearer ${fresh}` },
      });
      assert.equal(read.statusCode, 200, read.body);
    });

    it('users roles refuses an unknown user, an unknown role or missing flags, cleanly', async () => {
      const before = (await events('user.roles_changed')).length;
      assertCleanFailure(
        await cli(['users', 'roles', '--username', 'nobody', '--set', 'admin']),
        2,
        /NOT_FOUND/,
      );
      assertCleanFailure(
        await cli(['users', 'roles', '--username', 'boss', '--set', 'admin,root']),
        2,
        /unknown role "root"/,
      );
      assertCleanFailure(await cli(['users', 'roles', '--username', 'boss']), 2, /--set/);
      assertCleanFailure(await cli(['users', 'roles', '--set', 'admin']), 2, /--username/);
      assertCleanFailure(
        await cli(['users', 'roles', '--username', 'boss', '--set', 'admin', '--x', '1']),
        2,
        /--x/,
      );
      assert.equal((await events('user.roles_changed')).length, before);
    });

    it('usage names the new commands', async () => {
      const result = await cli(['audit']);
      assert.equal(result.code, 2, describeRun(result));
      assert.match(result.stderr, /audit verify/);
      assert.match(result.stderr, /users roles/);
    });

    it('audit verify exits 0 on an intact trail and 1 naming an edited or a deleted event', async () => {
      const clean = await cli(['audit', 'verify']);
      assert.equal(clean.code, 0, describeRun(clean));
      assert.match(clean.stdout, /^audit verify: OK \(\d+ events\)$/m);

      const db = runtime.database.db;
      // Tampering needs the append-only triggers out of the way: this test's database only.
      if (engine === 'postgres') {
        await sql`alter table audit_events disable trigger user`.execute(db);
      } else {
        await sql`drop trigger audit_events_no_update`.execute(db);
        await sql`drop trigger audit_events_no_delete`.execute(db);
      }
      const ids = (await db.selectFrom('audit_events').select('id').orderBy('id').execute()).map(
        (row) => row.id,
      );
      assert.ok(ids.length >= 4, `enough events to tamper with: ${ids.length}`);
      const [first, second] = ids;
      assert.ok(first !== undefined && second !== undefined);

      // Edited: the row itself is named.
      const original = await db
        .selectFrom('audit_events')
        .select('outcome')
        .where('id', '=', first)
        .executeTakeFirstOrThrow();
      await sql`update audit_events set outcome = 'denied' where id = ${first}`.execute(db);
      const edited = await cli(['audit', 'verify']);
      assert.equal(edited.code, 1, describeRun(edited));
      assert.match(edited.stdout, new RegExp(`FAILED: audit event ${first} was altered`));
      assert.doesNotMatch(edited.stderr, STACK_FRAME);
      await sql`update audit_events set outcome = ${original.outcome} where id = ${first}`.execute(
        db,
      );
      assert.equal((await cli(['audit', 'verify'])).code, 0, 'repaired');

      // A middle row deleted: the row after the gap is named.
      await sql`delete from audit_events where id = ${first}`.execute(db);
      const gap = await cli(['audit', 'verify']);
      assert.equal(gap.code, 1, describeRun(gap));
      assert.match(gap.stdout, new RegExp(`audit event ${second} does not follow`));
    });

    it('audit verify notices deleted newest events', async () => {
      // A fresh database, so nothing else is wrong with the chain.
      const other = await createTestDatabase(engine);
      const otherEnv = childEnv(other.env);
      try {
        for (const name of ['one', 'two', 'three']) {
          const result = await processes.runCli(
            ['users', 'create', '--username', name, '--password', PASSWORD, '--role', 'teller'],
            { env: otherEnv },
          );
          assert.equal(result.code, 0, describeRun(result));
        }
        const ok = await processes.runCli(['audit', 'verify'], { env: otherEnv });
        assert.match(ok.stdout, /OK \(3 events\)/, describeRun(ok));
        const rt = await openRuntime(other.env);
        try {
          const db = rt.database.db;
          if (engine === 'postgres') {
            await sql`alter table audit_events disable trigger user`.execute(db);
          } else {
            await sql`drop trigger audit_events_no_delete`.execute(db);
          }
          const newest = await db
            .selectFrom('audit_events')
            .select('id')
            .orderBy('id', 'desc')
            .executeTakeFirstOrThrow();
          await sql`delete from audit_events where id = ${newest.id}`.execute(db);
        } finally {
          await rt.database.close();
        }
        const truncated = await processes.runCli(['audit', 'verify'], { env: otherEnv });
        assert.equal(truncated.code, 1, describeRun(truncated));
        assert.match(truncated.stdout, /FAILED: .*newest events were deleted/);
      } finally {
        await other.dispose();
      }
    });
  });
}
