import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Db } from '../src/db/database.ts';
import { OwnPostgres, waitFor } from './support/chaos.ts';
import { createTestApp, ENGINES, type TestApp, type TestUser } from './support/harness.ts';

/**
 * The optional read replica (`DATABASE_READ_URL`) against a real streaming standby: the
 * test starts its own PostgreSQL primary and a hot standby made with `pg_basebackup -R`,
 * each in a temporary directory on its own port. History, statements, balances in time
 * and staff reads are served by the standby (its lag accepted); money never is. With the
 * standby stopped those reads answer 503 while money keeps moving and balances stay right,
 * and once it is back it has streamed everything the primary committed meanwhile.
 */
const TIMEOUT = { timeout: 180_000 };

describe('read replica on a streaming standby', { skip: !ENGINES.includes('postgres') }, () => {
  let primary: OwnPostgres | undefined;
  let standby: OwnPostgres | undefined;
  let t: TestApp;
  let auditor: TestUser;
  const month = new Date().toISOString().slice(0, 7);

  before(async () => {
    primary = await OwnPostgres.create();
    const name = await primary.createDatabase();
    standby = await OwnPostgres.standbyOf(primary);
    t = await createTestApp('postgres', {
      DATABASE_URL: primary.urlOf(name),
      DATABASE_READ_URL: standby.urlOf(name),
      DATABASE_CONNECT_TIMEOUT_MS: '3000',
    });
    auditor = await t.staff('auditor');
  });
  after(async () => {
    await t?.close();
    await standby?.dispose();
    await primary?.dispose();
  });

  const inRecovery = async (db: Db) =>
    (await sql<{ standby: boolean }>`select pg_is_in_recovery() as standby`.execute(db)).rows[0]
      ?.standby;

  /** Every read that may lag, for one account; each answers its status and what it shows. */
  function lagTolerantReads(user: TestUser, account: string) {
    return {
      history: () =>
        t.request<{ data: Array<{ amount: string }> }>(
          'GET',
          `/api/v1/accounts/${account}/transactions`,
          { token: user.token },
        ),
      statement: () =>
        t.request<{ closingBalance: string }>(
          'GET',
          `/api/v1/accounts/${account}/statements/${month}`,
          { token: user.token },
        ),
      balanceAt: () =>
        t.request<{ balance: string }>(
          'GET',
          `/api/v1/accounts/${account}/balance?at=${encodeURIComponent(new Date().toISOString())}`,
          { token: user.token },
        ),
      staffTransactions: () =>
        t.request<{ data: unknown[] }>('GET', `/api/v1/admin/transactions?account=${account}`, {
          token: auditor.token,
        }),
      staffStats: () => t.request('GET', '/api/v1/admin/stats', { token: auditor.token }),
    };
  }

  it(
    'serves history, statements, balances in time and staff reads from the standby',
    TIMEOUT,
    async () => {
      assert.equal(await inRecovery(t.runtime.database.readDb), true, 'reads: the standby');
      assert.equal(await inRecovery(t.runtime.database.db), false, 'money: the primary');
      // The replica's connections cannot write even by mistake.
      await assert.rejects(
        sql`update health_probe set checked_at = checked_at where id = 1`.execute(
          t.runtime.database.readDb,
        ),
        /read-only/,
      );

      const { user, account } = await t.fundedCustomer('100.00');
      const other = await t.fundedCustomer('0.01');
      assert.equal((await t.transfer(user, account, other.account, '30.00')).status, 201);
      const reads = lagTolerantReads(user, account);
      // The standby may lag: wait until it has streamed the transfer, then check what it shows.
      await waitFor('standby has the transfer', async () => {
        const history = await reads.history();
        return history.status === 200 && history.body.data.length === 2;
      });
      assert.deepEqual(
        (await reads.history()).body.data.map((row) => row.amount),
        ['30.00', '100.00'],
      );
      const statement = await reads.statement();
      assert.equal(statement.status, 200, JSON.stringify(statement.body));
      assert.equal(statement.body.closingBalance, '70.00');
      const balanceAt = await reads.balanceAt();
      assert.equal(balanceAt.status, 200, JSON.stringify(balanceAt.body));
      assert.equal(balanceAt.body.balance, '70.00');
      const staff = await reads.staffTransactions();
      assert.equal(staff.status, 200, JSON.stringify(staff.body));
      assert.equal(staff.body.data.length, 2);
      assert.equal((await reads.staffStats()).status, 200);
    },
  );

  it('with the standby down those reads answer 503 while money still moves', TIMEOUT, async () => {
    const { user, account } = await t.fundedCustomer('100.00');
    const other = await t.fundedCustomer('0.01');
    const reads = lagTolerantReads(user, account);
    await waitFor('standby has the deposit', async () => (await reads.history()).status === 200);

    await standby?.stopFast();
    for (const [name, read] of Object.entries(reads)) {
      const answer = await read();
      assert.equal(answer.status, 503, `${name}: ${JSON.stringify(answer.body)}`);
    }
    // Money and the balance read with it use the primary only.
    assert.equal((await t.transfer(user, account, other.account, '40.00')).status, 201);
    assert.equal((await t.withdraw(user, account, '10.00')).status, 201);
    assert.equal((await t.deposit(user, account, '5.00')).status, 201);
    assert.equal(await t.balance(user, account), '55.00');
    const events = await t.request<{ data: unknown[] }>('GET', '/api/v1/events?limit=1', {
      token: auditor.token,
    });
    assert.equal(events.status, 200, 'the event pull API reads the primary');

    // Back up, the standby streams what the primary committed while it was away.
    await standby?.start();
    await waitFor(
      'standby caught up',
      async () => {
        const history = await reads.history();
        return history.status === 200 && history.body.data.length === 4;
      },
      60_000,
    );
    assert.equal((await reads.statement()).body.closingBalance, '55.00');
    assert.equal((await reads.balanceAt()).body.balance, '55.00');
  });
});
