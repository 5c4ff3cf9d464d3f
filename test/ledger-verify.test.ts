import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../src/db/database.ts';
import { verifyLedger } from '../src/ledger/verify.ts';
import { createTestApp, ENGINES, type TestApp, type TestUser } from './support/harness.ts';

interface Seeded {
  alice: { user: TestUser; usd: string; jpy: string };
  bob: { user: TestUser; usd: string; jpy: string };
  carol: { user: TestUser; eur: string };
  /** Successful money movements: one journal entry and two postings each. */
  entries: number;
  /** Customer accounts plus one vault (cash) account per currency in use. */
  accounts: number;
}

async function expectStatus(
  response: Promise<{ status: number; body: unknown }>,
  status: number,
  what: string,
): Promise<void> {
  const { status: actual, body } = await response;
  assert.equal(actual, status, `${what}: ${JSON.stringify(body)}`);
}

/** A realistic mix of successful and refused money movements in three currencies. */
async function seed(t: TestApp): Promise<Seeded> {
  const aliceUser = await t.customer();
  const bobUser = await t.customer();
  const carolUser = await t.customer();
  const alice = {
    user: aliceUser,
    usd: (await t.openAccount(aliceUser)).accountNumber,
    jpy: (await t.openAccount(aliceUser, { currency: 'JPY' })).accountNumber,
  };
  const bob = {
    user: bobUser,
    usd: (await t.openAccount(bobUser, { type: 'savings' })).accountNumber,
    jpy: (await t.openAccount(bobUser, { currency: 'JPY' })).accountNumber,
  };
  const carol = {
    user: carolUser,
    eur: (await t.openAccount(carolUser, { currency: 'EUR' })).accountNumber,
  };
  let entries = 0;
  const ok = async (response: Promise<{ status: number; body: unknown }>, what: string) => {
    await expectStatus(response, 201, what);
    entries += 1;
  };
  await ok(t.deposit(alice.user, alice.usd, '1000.00'), 'alice deposit');
  await ok(t.deposit(alice.user, alice.jpy, '50000'), 'alice jpy deposit');
  await ok(t.deposit(carol.user, carol.eur, '75.25'), 'carol deposit');
  await ok(t.withdraw(alice.user, alice.usd, '120.55'), 'alice withdrawal');
  await ok(t.transfer(alice.user, alice.usd, bob.usd, '300.10'), 'alice to bob');
  await ok(t.transfer(alice.user, alice.jpy, bob.jpy, '12345'), 'alice to bob jpy');
  await ok(t.transfer(bob.user, bob.usd, alice.usd, '0.01'), 'bob to alice');
  await ok(t.withdraw(bob.user, bob.usd, '100.09'), 'bob withdrawal');
  await ok(t.withdraw(carol.user, carol.eur, '75.25'), 'carol empties her account');
  await ok(
    t.deposit(bob.user, bob.usd, '5.00', { 'idempotency-key': 'seed-deposit-1' }),
    'bob keyed deposit',
  );
  // Refused movements and a replay add nothing to the ledger.
  await expectStatus(
    t.deposit(bob.user, bob.usd, '5.00', { 'idempotency-key': 'seed-deposit-1' }),
    201,
    'replay',
  );
  await expectStatus(t.withdraw(carol.user, carol.eur, '0.01'), 422, 'overdraw');
  await expectStatus(t.transfer(bob.user, bob.usd, alice.usd, '1.00', { pin: '0000' }), 403, 'pin');
  await expectStatus(t.transfer(alice.user, alice.usd, alice.usd, '1.00'), 400, 'same account');
  await expectStatus(t.transfer(alice.user, alice.usd, carol.eur, '1.00'), 400, 'currencies');
  return { alice, bob, carol, entries, accounts: 5 + 3 };
}

async function accountId(db: Db, accountNumber: string): Promise<bigint> {
  const row = await db
    .selectFrom('accounts')
    .select(['id'])
    .where('account_number', '=', accountNumber)
    .executeTakeFirstOrThrow();
  return row.id;
}

async function balanceOf(db: Db, accountNumber: string): Promise<bigint> {
  const row = await db
    .selectFrom('accounts')
    .select(['balance_minor'])
    .where('account_number', '=', accountNumber)
    .executeTakeFirstOrThrow();
  return BigInt(row.balance_minor);
}

/** Inserts a journal entry directly, bypassing the engine, and returns its id. */
async function forgeEntry(
  db: Db,
  amountMinor: bigint,
  actorUserId: string | null = null,
): Promise<bigint> {
  const row = await db
    .insertInto('journal_entries')
    .values({
      kind: 'deposit',
      currency: 'USD',
      amount_minor: amountMinor,
      description: 'forged by the test',
      actor_user_id: actorUserId,
      created_at: new Date().toISOString(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return BigInt(row.id);
}

async function forgePosting(
  db: Db,
  posting: {
    entryId: bigint;
    accountId: bigint;
    direction: 'credit' | 'debit';
    amountMinor: bigint;
    balanceAfterMinor: bigint;
    counterpartyId: bigint;
  },
): Promise<bigint> {
  const row = await db
    .insertInto('postings')
    .values({
      entry_id: posting.entryId,
      account_id: posting.accountId,
      direction: posting.direction,
      amount_minor: posting.amountMinor,
      currency: 'USD',
      balance_after_minor: posting.balanceAfterMinor,
      counterparty_account_id: posting.counterpartyId,
      created_at: new Date().toISOString(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return BigInt(row.id);
}

const ROLLBACK = new Error('rolled back on purpose');

/** Runs `work` in a transaction that is always rolled back: proves a statement is accepted. */
async function acceptedThenRolledBack(db: Db, work: (trx: Db) => Promise<unknown>): Promise<void> {
  await assert.rejects(
    db.transaction().execute(async (trx) => {
      await work(trx);
      throw ROLLBACK;
    }),
    (error) => error === ROLLBACK,
  );
}

async function assertVerifyFails(db: Db, offender: RegExp): Promise<string> {
  const result = await verifyLedger(db);
  assert.equal(result.ok, false, 'verifyLedger should have found the tampering');
  if (result.ok) throw new Error('unreachable');
  assert.match(result.problem, offender);
  return result.problem;
}

for (const engine of ENGINES) {
  describe(`ledger verify [${engine}]`, () => {
    let t: TestApp;
    let db: Db;
    let seeded: Seeded;

    before(async () => {
      t = await createTestApp(engine, { RATE_LIMITS: 'off' });
      db = t.runtime.database.db;
      seeded = await seed(t);
    });
    after(() => t.close());

    it('is ok after a realistic mix, with the right counts', async () => {
      const result = await verifyLedger(db);
      // node:sqlite rows have a null prototype; compare the values, not the prototype.
      assert.deepEqual(
        { ok: result.ok, counts: { ...result.counts } },
        {
          ok: true,
          counts: {
            entries: BigInt(seeded.entries),
            postings: BigInt(seeded.entries * 2),
            accounts: BigInt(seeded.accounts),
          },
        },
      );
      // Cross-check from the database: every currency nets to zero across all accounts,
      // and the balances are what the movements above add up to.
      const nets = await sql<{ currency: string; net: bigint }>`
        select currency, cast(sum(balance_minor) as bigint) as net
        from accounts group by currency order by currency`.execute(db);
      assert.deepEqual(
        nets.rows.map((row) => [row.currency, BigInt(row.net)]),
        [
          ['EUR', 0n],
          ['JPY', 0n],
          ['USD', 0n],
        ],
      );
      const { alice, bob, carol } = seeded;
      assert.equal(await balanceOf(db, alice.usd), 100_000n - 12_055n - 30_010n + 1n);
      assert.equal(await balanceOf(db, alice.jpy), 50_000n - 12_345n);
      assert.equal(await balanceOf(db, bob.usd), 30_010n - 1n - 10_009n + 500n);
      assert.equal(await balanceOf(db, bob.jpy), 12_345n);
      assert.equal(await balanceOf(db, carol.eur), 0n);
    });

    it('(a) detects a stored balance edited directly and names the account', async () => {
      const { bob } = seeded;
      await sql`update accounts set balance_minor = balance_minor + 1 where account_number = ${bob.usd}`.execute(
        db,
      );
      try {
        const problem = await assertVerifyFails(db, new RegExp(`account ${bob.usd}\\b`));
        assert.match(problem, /stores balance 20501 but its postings sum to 20500/);
      } finally {
        await sql`update accounts set balance_minor = balance_minor - 1 where account_number = ${bob.usd}`.execute(
          db,
        );
      }
      assert.equal((await verifyLedger(db)).ok, true, 'restoring the balance restores the ledger');

      // The vault (system) side is checked as well, not only customer accounts.
      await sql`update accounts set balance_minor = balance_minor - 7 where account_number = 'VAULT-EUR'`.execute(
        db,
      );
      try {
        await assertVerifyFails(db, /account VAULT-EUR\b/);
      } finally {
        await sql`update accounts set balance_minor = balance_minor + 7 where account_number = 'VAULT-EUR'`.execute(
          db,
        );
      }
      assert.equal((await verifyLedger(db)).ok, true);
    });

    it('(d) the append-only triggers refuse updates and deletes of postings and entries', async () => {
      const before = await verifyLedger(db);
      const statements = [
        sql`update postings set amount_minor = 1`,
        sql`update postings set balance_after_minor = balance_after_minor + 1`,
        sql`delete from postings`,
        sql`update journal_entries set description = 'rewritten'`,
        sql`delete from journal_entries`,
      ];
      if (engine === 'postgres') statements.push(sql`truncate postings`);
      for (const statement of statements) {
        await assert.rejects(statement.execute(db), /append-only/, statement.compile(db).sql);
      }
      // Even a single targeted row is refused.
      const first = await db.selectFrom('postings').select('id').orderBy('id').executeTakeFirst();
      assert.ok(first !== undefined);
      await assert.rejects(
        sql`delete from postings where id = ${first.id}`.execute(db),
        /append-only/,
      );
      assert.deepEqual(await verifyLedger(db), before, 'nothing changed');
    });

    it('(e) the schema refuses a negative customer balance', async () => {
      const { carol } = seeded;
      await assert.rejects(
        sql`update accounts set balance_minor = -1 where kind = 'customer'`.execute(db),
        /accounts_customer_balance_check/,
      );
      await assert.rejects(
        sql`update accounts set balance_minor = -1 where account_number = ${carol.eur}`.execute(db),
        /accounts_customer_balance_check/,
      );
      // Control: the same statement with zero is accepted; system accounts may go negative.
      await acceptedThenRolledBack(db, async (trx) => {
        await sql`update accounts set balance_minor = 0 where account_number = ${carol.eur}`.execute(
          trx,
        );
        await sql`update accounts set balance_minor = -1 where kind = 'system'`.execute(trx);
      });
      assert.equal(await balanceOf(db, carol.eur), 0n);
      assert.equal((await verifyLedger(db)).ok, true);
    });

    it('(e) the schema refuses amount_minor <= 0 in postings and journal entries', async () => {
      const entry = await db
        .selectFrom('journal_entries')
        .select('id')
        .orderBy('id')
        .executeTakeFirstOrThrow();
      const alice = await accountId(db, seeded.alice.usd);
      const bob = await accountId(db, seeded.bob.usd);
      const posting = (amountMinor: bigint) => ({
        entryId: BigInt(entry.id),
        accountId: alice,
        direction: 'credit' as const,
        amountMinor,
        balanceAfterMinor: 0n,
        counterpartyId: bob,
      });
      for (const amount of [0n, -1n, -100n]) {
        await assert.rejects(forgePosting(db, posting(amount)), /postings_amount_check/);
        await assert.rejects(forgeEntry(db, amount), /journal_entries_amount_check/);
      }
      // Control: the same inserts with a positive amount are accepted (then rolled back).
      await acceptedThenRolledBack(db, async (trx) => {
        await forgePosting(trx, posting(1n));
        await forgeEntry(trx, 1n);
      });
      assert.equal((await verifyLedger(db)).ok, true);
    });

    it('(e) the schema refuses a second account with the same account number', async () => {
      const { alice } = seeded;
      const owner = await db
        .selectFrom('accounts')
        .select(['user_id'])
        .where('account_number', '=', alice.usd)
        .executeTakeFirstOrThrow();
      const row = (accountNumber: string) => ({
        account_number: accountNumber,
        user_id: owner.user_id,
        kind: 'customer' as const,
        type: 'checking' as const,
        currency: 'USD',
        nickname: null,
        status: 'active' as const,
        balance_minor: 0n,
        created_at: new Date().toISOString(),
      });
      await assert.rejects(
        db.insertInto('accounts').values(row(alice.usd)).execute(),
        /unique|duplicate key/i,
      );
      await assert.rejects(
        db.insertInto('accounts').values(row('VAULT-USD')).execute(),
        /unique|duplicate key/i,
      );
      await acceptedThenRolledBack(db, (trx) =>
        trx.insertInto('accounts').values(row('999999999999')).execute(),
      );
    });

    it('(e) the schema refuses a second idempotency key row with the same (user, key)', async () => {
      const { alice, bob } = seeded;
      const stored = await db
        .selectFrom('idempotency_keys')
        .select(['user_id', 'key'])
        .where('user_id', '=', bob.user.id)
        .execute();
      assert.deepEqual(
        stored.map((r) => ({ ...r })),
        [{ user_id: bob.user.id, key: 'seed-deposit-1' }],
      );
      const row = (userId: string) => ({
        user_id: userId,
        key: 'seed-deposit-1',
        request_hash: 'forged',
        outcome: '{}',
        created_at: new Date().toISOString(),
      });
      await assert.rejects(
        db.insertInto('idempotency_keys').values(row(bob.user.id)).execute(),
        /unique|duplicate key/i,
      );
      // Keys are scoped to the caller: the same key for another user is a different row.
      await acceptedThenRolledBack(db, (trx) =>
        trx.insertInto('idempotency_keys').values(row(alice.user.id)).execute(),
      );
    });

    it('(e) the schema refuses references to nothing, and removing what the ledger refers to', async () => {
      // On PostgreSQL these are statement-level triggers (migration 0024), on SQLite foreign
      // keys: the same refusals either way.
      const refusal = /FOREIGN KEY constraint failed|refers to nothing|refers to no user/;
      const entry = await db
        .selectFrom('journal_entries')
        .select(['id', 'actor_user_id'])
        .where('actor_user_id', 'is not', null)
        .orderBy('id')
        .executeTakeFirstOrThrow();
      const alice = await accountId(db, seeded.alice.usd);
      const bob = await accountId(db, seeded.bob.usd);
      const nowhere = 9_000_000_000n;
      const posting = (change: Partial<Parameters<typeof forgePosting>[1]>) => ({
        entryId: BigInt(entry.id),
        accountId: alice,
        direction: 'credit' as const,
        amountMinor: 1n,
        balanceAfterMinor: 0n,
        counterpartyId: bob,
        ...change,
      });
      await assert.rejects(forgePosting(db, posting({ entryId: nowhere })), refusal);
      await assert.rejects(forgePosting(db, posting({ accountId: nowhere })), refusal);
      await assert.rejects(forgePosting(db, posting({ counterpartyId: nowhere })), refusal);
      // One bad row among good ones spoils the whole statement.
      await assert.rejects(
        db
          .insertInto('postings')
          .values(
            [alice, bob, nowhere].map((account) => ({
              entry_id: BigInt(entry.id),
              account_id: account,
              direction: 'credit' as const,
              amount_minor: 1n,
              currency: 'USD',
              balance_after_minor: 0n,
              counterparty_account_id: null,
              created_at: new Date().toISOString(),
            })),
          )
          .execute(),
        refusal,
      );
      await assert.rejects(forgeEntry(db, 1n, nowhere.toString()), refusal);
      if (engine === 'postgres') {
        // The SQLSTATE of a foreign key, so a client tells it apart as before.
        await assert.rejects(forgePosting(db, posting({ accountId: nowhere })), {
          code: '23503',
        });
      }
      // What the ledger refers to cannot be removed or renumbered.
      await assert.rejects(
        sql`delete from accounts where id = ${alice}`.execute(db),
        /FOREIGN KEY constraint failed|account \d+ is referenced by the ledger/,
      );
      // A user whose only trace is as the actor of an entry (so no other foreign key is
      // what refuses the delete).
      const actorOnly = (removal: RawBuilder<unknown>) => async (trx: Db) => {
        const now = new Date().toISOString();
        await trx
          .insertInto('users')
          .values({
            id: 'actor-only-user',
            username: 'actor-only',
            email: 'actor-only@corebank.test',
            full_name: 'Actor Only',
            password_hash: 'x',
            pin_hash: null,
            locked_at: null,
            lock_reason: null,
            created_at: now,
            updated_at: now,
          })
          .execute();
        await forgeEntry(trx, 1n, 'actor-only-user');
        return removal.execute(trx);
      };
      for (const removal of [
        sql`delete from users where id = 'actor-only-user'`,
        sql`update users set id = 'renumbered' where id = 'actor-only-user'`,
      ]) {
        await assert.rejects(
          db.transaction().execute(actorOnly(removal)),
          /FOREIGN KEY constraint failed|user actor-only-user is referenced by the ledger/,
          removal.compile(db).sql,
        );
      }
      // Control: good references are accepted, and an account nothing refers to can go.
      await acceptedThenRolledBack(db, async (trx) => {
        await forgePosting(trx, posting({}));
        await forgePosting(trx, posting({ counterpartyId: alice, accountId: bob }));
        const spare = await trx
          .insertInto('accounts')
          .values({
            account_number: '999999999998',
            user_id: entry.actor_user_id ?? '',
            kind: 'customer',
            type: 'checking',
            currency: 'USD',
            nickname: null,
            status: 'active',
            balance_minor: 0n,
            created_at: new Date().toISOString(),
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        const gone = await sql`delete from accounts where id = ${spare.id}`.execute(trx);
        assert.equal(gone.numAffectedRows, 1n);
      });
      assert.equal((await verifyLedger(db)).ok, true);
    });

    it('everything refused above left the ledger as it was', async () => {
      const result = await verifyLedger(db);
      assert.equal(
        result.ok,
        true,
        JSON.stringify(result, (_k, v) => String(v)),
      );
      assert.equal(result.counts.entries, BigInt(seeded.entries));
      assert.equal(result.counts.postings, BigInt(seeded.entries * 2));
      assert.equal(result.counts.accounts, BigInt(seeded.accounts));
    });

    describe('tampering that cannot be undone (a fresh app each)', () => {
      let fresh: TestApp | undefined;
      after(async () => {
        await fresh?.close();
      });

      async function freshLedger(): Promise<{ db: Db; seeded: Seeded }> {
        await fresh?.close();
        fresh = undefined;
        fresh = await createTestApp(engine, { RATE_LIMITS: 'off' });
        const s = await seed(fresh);
        assert.equal((await verifyLedger(fresh.runtime.database.db)).ok, true);
        return { db: fresh.runtime.database.db, seeded: s };
      }

      it('(b) detects an entry with a single posting and names the entry', async () => {
        const { db, seeded } = await freshLedger();
        const alice = await accountId(db, seeded.alice.usd);
        const vault = await accountId(db, 'VAULT-USD');
        const balance = await balanceOf(db, seeded.alice.usd);
        const entryId = await forgeEntry(db, 500n);
        await forgePosting(db, {
          entryId,
          accountId: alice,
          direction: 'credit',
          amountMinor: 500n,
          balanceAfterMinor: balance + 500n,
          counterpartyId: vault,
        });
        // Keep the stored balance consistent, so only the entry rule is broken.
        await sql`update accounts set balance_minor = balance_minor + 500 where id = ${alice}`.execute(
          db,
        );
        const problem = await assertVerifyFails(db, new RegExp(`journal entry ${entryId}\\b`));
        assert.match(problem, /1 posting/);
      });

      it('(b) detects an entry whose two postings do not sum to zero and names the entry', async () => {
        const { db, seeded } = await freshLedger();
        const bob = await accountId(db, seeded.bob.usd);
        const vault = await accountId(db, 'VAULT-USD');
        const bobBalance = await balanceOf(db, seeded.bob.usd);
        const vaultBalance = await balanceOf(db, 'VAULT-USD');
        const entryId = await forgeEntry(db, 500n);
        await forgePosting(db, {
          entryId,
          accountId: bob,
          direction: 'credit',
          amountMinor: 500n,
          balanceAfterMinor: bobBalance + 500n,
          counterpartyId: vault,
        });
        await forgePosting(db, {
          entryId,
          accountId: vault,
          direction: 'debit',
          amountMinor: 400n,
          balanceAfterMinor: vaultBalance - 400n,
          counterpartyId: bob,
        });
        await sql`update accounts set balance_minor = balance_minor + 500 where id = ${bob}`.execute(
          db,
        );
        await sql`update accounts set balance_minor = balance_minor - 400 where id = ${vault}`.execute(
          db,
        );
        const problem = await assertVerifyFails(db, new RegExp(`journal entry ${entryId}\\b`));
        assert.match(problem, /does not balance in USD/);
        assert.match(problem, /100/);
      });

      it('(c) detects a posting whose balance-after is wrong and names the posting', async () => {
        const { db, seeded } = await freshLedger();
        const alice = await accountId(db, seeded.alice.usd);
        const vault = await accountId(db, 'VAULT-USD');
        const aliceBalance = await balanceOf(db, seeded.alice.usd);
        const vaultBalance = await balanceOf(db, 'VAULT-USD');
        const entryId = await forgeEntry(db, 300n);
        // A balanced pair with matching stored balances; only alice's balance-after lies.
        const wrong = await forgePosting(db, {
          entryId,
          accountId: alice,
          direction: 'credit',
          amountMinor: 300n,
          balanceAfterMinor: aliceBalance + 300n + 1n,
          counterpartyId: vault,
        });
        await forgePosting(db, {
          entryId,
          accountId: vault,
          direction: 'debit',
          amountMinor: 300n,
          balanceAfterMinor: vaultBalance - 300n,
          counterpartyId: alice,
        });
        await sql`update accounts set balance_minor = balance_minor + 300 where id = ${alice}`.execute(
          db,
        );
        await sql`update accounts set balance_minor = balance_minor - 300 where id = ${vault}`.execute(
          db,
        );
        const problem = await assertVerifyFails(db, new RegExp(`posting ${wrong}\\b`));
        assert.match(problem, new RegExp(`account ${seeded.alice.usd}\\b`));
        assert.match(
          problem,
          new RegExp(
            `balance-after ${aliceBalance + 301n} but the running sum is ${aliceBalance + 300n}`,
          ),
        );
      });

      it('(c) detects a posting in the wrong currency and names it', async () => {
        const { db, seeded } = await freshLedger();
        const bobJpy = await accountId(db, seeded.bob.jpy);
        const vault = await accountId(db, 'VAULT-USD');
        const entryId = await forgeEntry(db, 10n);
        // A USD posting on a JPY account, with a USD vault leg: balanced, but wrong.
        const wrong = await forgePosting(db, {
          entryId,
          accountId: bobJpy,
          direction: 'credit',
          amountMinor: 10n,
          balanceAfterMinor: 0n,
          counterpartyId: vault,
        });
        await forgePosting(db, {
          entryId,
          accountId: vault,
          direction: 'debit',
          amountMinor: 10n,
          balanceAfterMinor: 0n,
          counterpartyId: bobJpy,
        });
        const problem = await assertVerifyFails(db, new RegExp(`posting ${wrong}\\b`));
        assert.match(problem, /wrong currency/);
        assert.match(problem, new RegExp(seeded.bob.jpy));
      });

      /** A balanced two-leg entry written by hand, keeping stored balances consistent. */
      async function forgeMovement(
        db: Db,
        movement: {
          entryCurrency: string;
          postingCurrency: string;
          debit: string;
          credit: string;
          amountMinor: bigint;
        },
      ): Promise<{ entryId: bigint; debitPosting: bigint }> {
        const now = new Date().toISOString();
        const entry = await db
          .insertInto('journal_entries')
          .values({
            kind: 'transfer',
            currency: movement.entryCurrency,
            amount_minor: movement.amountMinor,
            description: 'forged by the test',
            actor_user_id: null,
            created_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        const debitId = await accountId(db, movement.debit);
        const creditId = await accountId(db, movement.credit);
        const legs = [
          [
            debitId,
            'debit',
            creditId,
            (await balanceOf(db, movement.debit)) - movement.amountMinor,
          ],
          [
            creditId,
            'credit',
            debitId,
            (await balanceOf(db, movement.credit)) + movement.amountMinor,
          ],
        ] as const;
        const ids: bigint[] = [];
        for (const [account, direction, counterparty, balanceAfter] of legs) {
          const row = await db
            .insertInto('postings')
            .values({
              entry_id: entry.id,
              account_id: account,
              direction,
              amount_minor: movement.amountMinor,
              currency: movement.postingCurrency,
              balance_after_minor: balanceAfter,
              counterparty_account_id: counterparty,
              created_at: now,
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          ids.push(BigInt(row.id));
          await db
            .updateTable('accounts')
            .set({ balance_minor: balanceAfter })
            .where('id', '=', account)
            .execute();
        }
        return { entryId: BigInt(entry.id), debitPosting: ids[0] ?? 0n };
      }

      it('(c) detects postings in another currency than their entry', async () => {
        const { db, seeded } = await freshLedger();
        // Postings in JPY on JPY accounts, balanced and with consistent balances: only
        // the entry, which says USD, disagrees with them.
        const { debitPosting } = await forgeMovement(db, {
          entryCurrency: 'USD',
          postingCurrency: 'JPY',
          debit: seeded.alice.jpy,
          credit: seeded.bob.jpy,
          amountMinor: 7n,
        });
        const problem = await assertVerifyFails(db, new RegExp(`posting ${debitPosting}\\b`));
        assert.match(problem, /wrong currency/);
        assert.match(problem, new RegExp(seeded.alice.jpy));
      });

      it('(e) detects a negative customer balance once the schema check is bypassed', async () => {
        const { db, seeded } = await freshLedger();
        // The schema refuses a negative customer balance; bypass it to prove that verify
        // would see one on its own (a database restored without its constraints).
        if (engine === 'sqlite') {
          await sql`pragma ignore_check_constraints = on`.execute(db);
        } else {
          await sql`alter table accounts drop constraint accounts_customer_balance_check`.execute(
            db,
          );
        }
        try {
          // Carol's account is empty; a consistent, balanced entry takes it to -1.00 EUR.
          await forgeMovement(db, {
            entryCurrency: 'EUR',
            postingCurrency: 'EUR',
            debit: seeded.carol.eur,
            credit: 'VAULT-EUR',
            amountMinor: 100n,
          });
        } finally {
          if (engine === 'sqlite') await sql`pragma ignore_check_constraints = off`.execute(db);
        }
        assert.equal(await balanceOf(db, seeded.carol.eur), -100n);
        const problem = await assertVerifyFails(db, new RegExp(`account ${seeded.carol.eur}\\b`));
        assert.match(problem, /negative balance -100/);
      });
    });
  });
}
