import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { appendAudit, auditHash, verifyAudit } from '../src/audit/audit.ts';
import {
  createTestApp,
  DEFAULT_PASSWORD,
  ENGINES,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { type AuditRow, allAuditEvents, lockByWrongPins } from './support/staff.ts';

/**
 * The audit trail: the right events with actor, target, outcome and client address after
 * staff and security actions; `verifyAudit` catching every kind of tampering; and the chain
 * staying valid under concurrent audited actions.
 */

/**
 * Lets the test edit its own database's audit table, which the migration makes append-only.
 * Only ever run against the throw-away database of one test.
 */
async function allowTampering(t: TestApp): Promise<void> {
  const db = t.runtime.database.db;
  if (t.engine === 'postgres') {
    await sql`alter table audit_events disable trigger user`.execute(db);
  } else {
    await sql`drop trigger audit_events_no_update`.execute(db);
    await sql`drop trigger audit_events_no_delete`.execute(db);
  }
}

async function auditIds(t: TestApp): Promise<bigint[]> {
  const rows = await t.runtime.database.db
    .selectFrom('audit_events')
    .select('id')
    .orderBy('id')
    .execute();
  return rows.map((row) => row.id);
}

/** An app with a few audited events: two staff deposits, a lockout, an unlock, a freeze. */
async function populatedApp(engine: (typeof ENGINES)[number]): Promise<TestApp> {
  const t = await createTestApp(engine, { RATE_LIMITS: 'off' });
  const admin = await t.staff('admin');
  const teller = await t.staff('teller');
  const customer = await t.customer();
  const { accountNumber } = await t.openAccount(customer);
  for (const amount of ['10.00', '20.00']) {
    assert.equal((await t.deposit(teller, accountNumber, amount)).status, 201);
  }
  await lockByWrongPins(t, customer, accountNumber);
  const unlock = await t.request('POST', `/api/v1/admin/users/${customer.id}/unlock`, {
    token: admin.token,
    body: { otp: await t.staffOtp(admin) },
  });
  assert.equal(unlock.status, 200);
  const freeze = await t.request('POST', `/api/v1/admin/accounts/${accountNumber}/freeze`, {
    token: admin.token,
    body: { otp: await t.staffOtp(admin) },
  });
  assert.equal(freeze.status, 200);
  return t;
}

function only(events: AuditRow[], action: string): AuditRow {
  const matching = events.filter((event) => event.action === action);
  assert.equal(matching.length, 1, `exactly one ${action}: ${JSON.stringify(events)}`);
  const [event] = matching;
  assert.ok(event);
  return event;
}

for (const engine of ENGINES) {
  describe(`audit trail [${engine}]`, () => {
    describe('events of staff and security actions', () => {
      let t: TestApp;
      let admin: TestUser;
      let teller: TestUser;
      let customer: TestUser;
      let account: string;

      before(async () => {
        t = await createTestApp(engine, { RATE_LIMITS: 'off' });
        admin = await t.staff('admin');
        teller = await t.staff('teller');
        customer = await t.customer();
        account = (await t.openAccount(customer)).accountNumber;
      });
      after(() => t.close());

      it('a staff deposit, a lockout, an unlock and a freeze each leave their event', async () => {
        const deposit = await t.deposit(teller, account, '25.00');
        assert.equal(deposit.status, 201);
        await lockByWrongPins(t, customer, account);
        const unlock = await t.request('POST', `/api/v1/admin/users/${customer.id}/unlock`, {
          token: admin.token,
          body: { otp: await t.staffOtp(admin) },
        });
        assert.equal(unlock.status, 200);
        // From another client address, to show the event records the caller's, not a constant.
        const freeze = await t.app.inject({
          method: 'POST',
          url: `/api/v1/admin/accounts/${account}/freeze`,
          headers: { authorization: `Bearer ${admin.token}` },
          payload: { otp: await t.staffOtp(admin) },
          remoteAddress: '203.0.113.7',
        });
        assert.equal(freeze.statusCode, 200, freeze.body);
        const refused = await t.deposit(teller, account, '1.00');
        assert.equal(refused.status, 409);

        const events = await allAuditEvents(t, admin);
        const staffDeposits = events.filter((event) => event.action === 'money.staff_deposit');
        assert.deepEqual(
          staffDeposits.map((event) => [event.outcome, event.details?.code ?? null]),
          [
            ['failure', 'ACCOUNT_FROZEN'],
            ['success', null],
          ],
        );
        const depositEvent = staffDeposits[1];
        assert.equal(depositEvent?.actor, teller.id);
        assert.equal(depositEvent?.target, `account:${account}`);
        assert.equal(depositEvent?.ip, '127.0.0.1');
        assert.equal(depositEvent?.details?.amount, '25.00');

        const locked = only(events, 'user.locked');
        assert.equal(locked.actor, customer.id);
        assert.equal(locked.target, `user:${customer.id}`);
        assert.equal(locked.outcome, 'success');
        assert.equal(locked.ip, '127.0.0.1');

        const unlocked = only(events, 'user.unlocked');
        assert.equal(unlocked.actor, admin.id);
        assert.equal(unlocked.target, `user:${customer.id}`);
        assert.equal(unlocked.outcome, 'success');
        assert.equal(unlocked.ip, '127.0.0.1');
        assert.equal(unlocked.details?.wasLocked, true);

        const frozen = only(events, 'account.frozen');
        assert.equal(frozen.actor, admin.id);
        assert.equal(frozen.target, `account:${account}`);
        assert.equal(frozen.outcome, 'success');
        assert.equal(frozen.ip, '203.0.113.7');

        // In the order they happened.
        const order = ['money.staff_deposit', 'user.locked', 'user.unlocked', 'account.frozen'];
        const positions = order.map((action) =>
          events.findLastIndex((event) => event.action === action),
        );
        assert.deepEqual(
          [...positions].sort((a, b) => b - a),
          positions,
        );
        // Timestamps are ISO 8601 UTC.
        assert.ok(
          events.every((event) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(event.at)),
        );
        // Nothing secret is ever recorded.
        assert.doesNotMatch(JSON.stringify(events), new RegExp(`${DEFAULT_PASSWORD}|2468|1357`));

        const result = await verifyAudit(t.runtime.database.db);
        assert.ok(result.ok, result.ok ? '' : result.problem);
      });

      it('an event appended in a transaction that rolls back leaves no trace', async () => {
        const { db, engine: dbEngine } = t.runtime.database;
        const before = await auditIds(t);
        await assert.rejects(
          db.transaction().execute(async (trx) => {
            await appendAudit(trx, dbEngine, {
              actorUserId: admin.id,
              action: 'account.frozen',
              target: `account:${account}`,
              outcome: 'success',
              ip: null,
            });
            throw new Error('the change failed');
          }),
          /the change failed/,
        );
        assert.deepEqual(await auditIds(t), before);
        const result = await verifyAudit(db);
        assert.ok(result.ok, result.ok ? '' : result.problem);
      });

      it('the append-only triggers refuse updates and deletes', async () => {
        const db = t.runtime.database.db;
        await assert.rejects(sql`update audit_events set outcome = 'failure'`.execute(db));
        await assert.rejects(sql`delete from audit_events`.execute(db));
        const result = await verifyAudit(db);
        assert.ok(result.ok);
      });
    });

    describe('verify catches tampering', () => {
      const apps: TestApp[] = [];
      after(async () => {
        for (const app of apps) await app.close();
      });
      const fresh = async () => {
        const t = await populatedApp(engine);
        apps.push(t);
        const clean = await verifyAudit(t.runtime.database.db);
        assert.ok(clean.ok, clean.ok ? '' : clean.problem);
        await allowTampering(t);
        return t;
      };

      it('an edited row is named', async () => {
        const t = await fresh();
        const ids = await auditIds(t);
        const victim = ids[1];
        assert.ok(victim !== undefined && ids.length >= 4);
        await sql`update audit_events set outcome = 'failure' where id = ${victim}`.execute(
          t.runtime.database.db,
        );
        const result = await verifyAudit(t.runtime.database.db);
        assert.equal(result.ok, false);
        assert.match(result.ok ? '' : result.problem, new RegExp(`event ${victim} was altered`));
      });

      it('an edited ip with a recomputed hash is still caught by the next row', async () => {
        const t = await fresh();
        const db = t.runtime.database.db;
        const ids = await auditIds(t);
        const victim = ids[0];
        assert.ok(victim !== undefined);
        // A forger who recomputes the edited row's own hash breaks the link to the next one.
        const row = await db
          .selectFrom('audit_events')
          .selectAll()
          .where('id', '=', victim)
          .executeTakeFirstOrThrow();
        const forged = auditHash(row.prev_hash, {
          at: row.at,
          actorUserId: row.actor_user_id,
          action: row.action,
          target: row.target,
          outcome: row.outcome,
          ip: '198.51.100.1',
          details: row.details,
        });
        await sql`update audit_events set ip = '198.51.100.1', hash = ${forged} where id = ${victim}`.execute(
          db,
        );
        const result = await verifyAudit(db);
        assert.equal(result.ok, false);
        assert.match(
          result.ok ? '' : result.problem,
          new RegExp(`event ${ids[1]} does not follow`),
        );
      });

      it('a deleted middle row is found at the row after it', async () => {
        const t = await fresh();
        const ids = await auditIds(t);
        const middle = ids[Math.floor(ids.length / 2)];
        const next = ids[Math.floor(ids.length / 2) + 1];
        assert.ok(middle !== undefined && next !== undefined);
        await sql`delete from audit_events where id = ${middle}`.execute(t.runtime.database.db);
        const result = await verifyAudit(t.runtime.database.db);
        assert.equal(result.ok, false);
        assert.match(result.ok ? '' : result.problem, new RegExp(`event ${next} does not follow`));
      });

      it('deleted newest rows are found by the chain head', async () => {
        const t = await fresh();
        const ids = await auditIds(t);
        const keep = ids.at(-3);
        assert.ok(keep !== undefined);
        await sql`delete from audit_events where id > ${keep}`.execute(t.runtime.database.db);
        const result = await verifyAudit(t.runtime.database.db);
        assert.equal(result.ok, false);
        assert.match(result.ok ? '' : result.problem, /newest events were deleted/);
        assert.match(result.ok ? '' : result.problem, new RegExp(`ends at event ${keep}`));
      });
    });

    describe('concurrency', () => {
      let t: TestApp;
      after(() => t.close());

      it('20 parallel audited actions keep the chain valid and complete', async () => {
        t = await createTestApp(engine, { RATE_LIMITS: 'off' });
        // A step-up code is good once, so each parallel freeze or unfreeze has its own admin.
        const admins = await Promise.all(Array.from({ length: 10 }, () => t.staff('admin')));
        const codes = await Promise.all(admins.map((admin) => t.staffOtp(admin)));
        const teller = await t.staff('teller');
        const accounts: string[] = [];
        for (let i = 0; i < 5; i++) accounts.push((await t.fundedCustomer('100.00')).account);
        const db = t.runtime.database.db;
        const lengthBefore = (await verifyAudit(db)).length;

        const requests = Array.from({ length: 20 }, (_, i) => {
          const account = accounts[i % accounts.length] ?? '';
          // Requests 0, 1, 4, 5, 8, 9... are the ten freezes and unfreezes: admin 0 to 9.
          const staffIndex = Math.floor(i / 4) * 2 + (i % 4);
          switch (i % 4) {
            case 0:
              return t.request('POST', `/api/v1/admin/accounts/${account}/freeze`, {
                token: admins[staffIndex]?.token,
                body: { otp: codes[staffIndex] },
              });
            case 1:
              return t.request('POST', `/api/v1/admin/accounts/${account}/unfreeze`, {
                token: admins[staffIndex]?.token,
                body: { otp: codes[staffIndex] },
              });
            default:
              return t.deposit(teller, account, `${i}.00`);
          }
        });
        const responses = await Promise.all(requests);
        for (const response of responses) {
          // A deposit may meet a freeze that won the race: that is a refusal, also audited.
          assert.ok(
            [200, 201].includes(response.status) ||
              (response.status === 409 && response.body.code === 'ACCOUNT_FROZEN'),
            JSON.stringify(response.body),
          );
        }
        const result = await verifyAudit(db);
        assert.ok(result.ok, result.ok ? '' : result.problem);
        assert.equal(result.length, lengthBefore + 20n);
        const hashes = await db.selectFrom('audit_events').select('prev_hash').execute();
        assert.equal(new Set(hashes.map((row) => row.prev_hash)).size, hashes.length, 'no fork');
      });
    });
  });
}
