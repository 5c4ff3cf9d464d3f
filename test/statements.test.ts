import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import { balanceAtQuery } from '../src/statements/statements-repository.ts';
import { assertProblem } from './support/auth-helpers.ts';
import { createTestApp, ENGINES, type TestApp, type TestUser } from './support/harness.ts';

/**
 * Statements and balances in time (contract v1.1), on both engines. Histories with chosen
 * timestamps are written straight into the journal (append-only tables accept inserts),
 * each entry balanced against the vault exactly as the engine writes one, so months,
 * boundaries and instants can be tested without waiting for the calendar.
 */

interface Line {
  id: string;
  accountNumber: string;
  type: string;
  direction: 'credit' | 'debit';
  amount: string;
  currency: string;
  balanceAfter: string;
  counterpartyAccount: string | null;
  description: string | null;
  createdAt: string;
}

interface StatementBody {
  accountNumber: string;
  currency: string;
  period: { from: string; to: string };
  openingBalance: string;
  closingBalance: string;
  totalCredits: string;
  totalDebits: string;
  lineCount: number;
  lines: Line[];
}

interface HistoryEvent {
  at: string;
  direction: 'credit' | 'debit';
  amountMinor: bigint;
  description: string | null;
}

/** A small deterministic PRNG (mulberry32), so a failing history can be replayed by seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function minorOf(amount: string): bigint {
  const [whole, fraction = ''] = amount.split('.');
  return BigInt(whole ?? '0') * 100n + BigInt(fraction.padEnd(2, '0'));
}

function major(minor: bigint): string {
  return `${minor / 100n}.${String(minor % 100n).padStart(2, '0')}`;
}

/**
 * Writes events (sorted by time) as balanced entries against the USD vault, with running
 * balances, and brings both stored balances up to date. Debits that would overdraw are
 * skipped, as the engine would refuse them. Returns the events actually written.
 */
async function writeHistory(
  t: TestApp,
  accountNumber: string,
  events: HistoryEvent[],
): Promise<Array<HistoryEvent & { balanceAfterMinor: bigint }>> {
  const db = t.runtime.database.db;
  const written: Array<HistoryEvent & { balanceAfterMinor: bigint }> = [];
  await db.transaction().execute(async (trx) => {
    const account = await trx
      .selectFrom('accounts')
      .select(['id', 'balance_minor'])
      .where('account_number', '=', accountNumber)
      .executeTakeFirstOrThrow();
    const vault = await trx
      .selectFrom('accounts')
      .select(['id', 'balance_minor'])
      .where('account_number', '=', 'VAULT-USD')
      .executeTakeFirstOrThrow();
    let balance = account.balance_minor;
    let vaultBalance = vault.balance_minor;
    const sorted = [...events].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    for (const event of sorted) {
      const delta = event.direction === 'credit' ? event.amountMinor : -event.amountMinor;
      if (balance + delta < 0n) continue;
      balance += delta;
      vaultBalance += delta;
      const entry = await trx
        .insertInto('journal_entries')
        .values({
          kind: event.direction === 'credit' ? 'deposit' : 'withdrawal',
          currency: 'USD',
          amount_minor: event.amountMinor,
          description: event.description,
          actor_user_id: null,
          created_at: event.at,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('postings')
        .values([
          {
            entry_id: entry.id,
            account_id: account.id,
            direction: event.direction,
            amount_minor: event.amountMinor,
            currency: 'USD',
            balance_after_minor: balance,
            counterparty_account_id: vault.id,
            created_at: event.at,
          },
          {
            entry_id: entry.id,
            account_id: vault.id,
            direction: event.direction === 'credit' ? 'debit' : 'credit',
            amount_minor: event.amountMinor,
            currency: 'USD',
            balance_after_minor: vaultBalance,
            counterparty_account_id: account.id,
            created_at: event.at,
          },
        ])
        .execute();
      written.push({ ...event, balanceAfterMinor: balance });
    }
    await trx
      .updateTable('accounts')
      .set({ balance_minor: balance })
      .where('id', '=', account.id)
      .execute();
    await trx
      .updateTable('accounts')
      .set({ balance_minor: vaultBalance })
      .where('id', '=', vault.id)
      .execute();
  });
  return written;
}

async function getStatement(t: TestApp, user: TestUser, account: string, month: string) {
  return t.request<StatementBody>('GET', `/api/v1/accounts/${account}/statements/${month}`, {
    token: user.token,
  });
}

async function raw(t: TestApp, user: TestUser, url: string, accept: string) {
  return t.app.inject({
    method: 'GET',
    url,
    headers: { authorization: `Bearer ${user.token}`, accept },
  });
}

const hasPdftotext = spawnSync('pdftotext', ['-v']).error === undefined;

function pdfText(pdf: Buffer): string {
  const result = spawnSync('pdftotext', ['-layout', '-', '-'], { input: pdf });
  assert.equal(result.status, 0, String(result.stderr));
  return String(result.stdout);
}

for (const engine of ENGINES) {
  describe(`statements and balances in time [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, { STANDING_ORDERS_SCHEDULER: 'off' });
    });
    after(async () => {
      await t?.close();
    });

    it('closing = opening + credits − debits for random histories, month after month', async () => {
      for (const seed of [1, 2, 3]) {
        const random = prng(seed * 7919);
        const user = await t.customer();
        const { accountNumber } = await t.openAccount(user);
        // Six months of 2025 with March left empty; timestamps at random milliseconds.
        const events: HistoryEvent[] = [];
        for (let i = 0; i < 120; i++) {
          let month = 1 + Math.floor(random() * 6);
          if (month === 3) month = 4;
          const day = 1 + Math.floor(random() * 28);
          const ms = Math.floor(random() * 86_400_000);
          const at = new Date(Date.UTC(2025, month - 1, day) + ms).toISOString();
          const credit = random() < 0.55;
          events.push({
            at,
            direction: credit ? 'credit' : 'debit',
            amountMinor: BigInt(1 + Math.floor(random() * 50_000)),
            description: random() < 0.3 ? `note ${i}, "quoted"` : null,
          });
        }
        const written = await writeHistory(t, accountNumber, events);
        let previousClosing = '0.00';
        for (const month of ['2025-01', '2025-02', '2025-03', '2025-04', '2025-05', '2025-06']) {
          const response = await getStatement(t, user, accountNumber, month);
          assert.equal(response.status, 200, JSON.stringify(response.body));
          const s = response.body;
          const context = `seed ${seed} month ${month}`;
          assert.equal(
            minorOf(s.closingBalance),
            minorOf(s.openingBalance) + minorOf(s.totalCredits) - minorOf(s.totalDebits),
            context,
          );
          // Continuity: a month opens where the previous one closed (the first opens at 0).
          assert.equal(s.openingBalance, previousClosing, context);
          // The lines are the month's postings, in order, each balance following the last.
          const expected = written.filter((e) => e.at.startsWith(month));
          assert.equal(s.lines.length, expected.length, context);
          assert.equal(s.lineCount, expected.length, context);
          let running = minorOf(s.openingBalance);
          let credits = 0n;
          let debits = 0n;
          s.lines.forEach((line, i) => {
            const amount = minorOf(line.amount);
            running += line.direction === 'credit' ? amount : -amount;
            if (line.direction === 'credit') credits += amount;
            else debits += amount;
            assert.equal(minorOf(line.balanceAfter), running, `${context} line ${i}`);
            assert.equal(line.createdAt, expected[i]?.at, `${context} line ${i}`);
          });
          assert.equal(major(credits), s.totalCredits, context);
          assert.equal(major(debits), s.totalDebits, context);
          assert.equal(major(running), s.closingBalance, context);
          if (month === '2025-03') {
            assert.deepEqual(s.lines, [], 'the empty month has no lines');
            assert.equal(s.openingBalance, s.closingBalance);
          }
          previousClosing = s.closingBalance;
        }
        // A month before the account's first posting: all zero, no lines.
        const first = await getStatement(t, user, accountNumber, '2024-12');
        assert.equal(first.status, 200);
        assert.equal(first.body.openingBalance, '0.00');
        assert.equal(first.body.closingBalance, '0.00');
        assert.deepEqual(first.body.lines, []);
      }
    });

    it('month boundaries: 23:59:59.999 belongs to the month, 00:00:00.000 to the next', async () => {
      const user = await t.customer();
      const { accountNumber } = await t.openAccount(user);
      await writeHistory(t, accountNumber, [
        {
          at: '2025-10-01T00:00:00.000Z',
          direction: 'credit',
          amountMinor: 1000n,
          description: 'first instant',
        },
        {
          at: '2025-10-31T23:59:59.999Z',
          direction: 'credit',
          amountMinor: 200n,
          description: 'last instant',
        },
        {
          at: '2025-11-01T00:00:00.000Z',
          direction: 'debit',
          amountMinor: 50n,
          description: 'next month',
        },
        {
          at: '2025-09-30T23:59:59.999Z',
          direction: 'credit',
          amountMinor: 7n,
          description: 'month before',
        },
      ]);
      const october = await getStatement(t, user, accountNumber, '2025-10');
      assert.equal(october.status, 200);
      assert.deepEqual(october.body.period, {
        from: '2025-10-01T00:00:00.000Z',
        to: '2025-10-31T23:59:59.999Z',
      });
      assert.deepEqual(
        october.body.lines.map((l) => l.description),
        ['first instant', 'last instant'],
      );
      assert.equal(october.body.openingBalance, '0.07');
      assert.equal(october.body.closingBalance, '12.07');
      const november = await getStatement(t, user, accountNumber, '2025-11');
      assert.deepEqual(
        november.body.lines.map((l) => l.description),
        ['next month'],
      );
      assert.equal(november.body.openingBalance, '12.07');
      assert.equal(november.body.closingBalance, '11.57');
      // Balance at the boundary instants.
      const at = async (instant: string) =>
        (
          await t.request<{ balance: string }>(
            'GET',
            `/api/v1/accounts/${accountNumber}/balance?at=${encodeURIComponent(instant)}`,
            { token: user.token },
          )
        ).body.balance;
      assert.equal(await at('2025-10-31T23:59:59.998Z'), '10.07');
      assert.equal(await at('2025-10-31T23:59:59.999Z'), '12.07');
      assert.equal(await at('2025-11-01T00:00:00Z'), '11.57');
      assert.equal(await at('2025-11-01T01:00:00+01:00'), '11.57');
      assert.equal(await at('2025-11-01T00:59:59.999+01:00'), '12.07');
      assert.equal(await at('2025-09-01T00:00:00Z'), '0.00');
    });

    it('a statement month follows STATEMENT_TIME_ZONE', async () => {
      const zoned = await createTestApp(engine, {
        STANDING_ORDERS_SCHEDULER: 'off',
        STATEMENT_TIME_ZONE: 'Europe/Berlin',
      });
      try {
        const user = await zoned.customer();
        const { accountNumber } = await zoned.openAccount(user);
        await writeHistory(zoned, accountNumber, [
          // 00:30 on 1 November in Berlin (UTC+1): November there, October in UTC.
          {
            at: '2025-10-31T23:30:00.000Z',
            direction: 'credit',
            amountMinor: 500n,
            description: 'berlin november',
          },
        ]);
        const november = await getStatement(zoned, user, accountNumber, '2025-11');
        assert.equal(november.body.period.from, '2025-10-31T23:00:00.000Z');
        assert.equal(november.body.period.to, '2025-11-30T22:59:59.999Z');
        assert.deepEqual(
          november.body.lines.map((l) => l.description),
          ['berlin november'],
        );
      } finally {
        await zoned.close();
      }
    });

    it('CSV parsed back by a CSV library equals the JSON, with formulas defused', async () => {
      const user = await t.customer();
      const { accountNumber } = await t.openAccount(user);
      const tricky = [
        '=HYPERLINK("http://evil.example","click")',
        '+1+1',
        '-2',
        '@SUM(A1)',
        'comma, inside',
        'a "quoted" word',
        'plain',
      ];
      await writeHistory(
        t,
        accountNumber,
        tricky.map((description, i) => ({
          at: `2025-05-0${i + 1}T12:00:00.000Z`,
          direction: 'credit' as const,
          amountMinor: BigInt(100 + i),
          description,
        })),
      );
      const url = `/api/v1/accounts/${accountNumber}/statements/2025-05`;
      const json = (await getStatement(t, user, accountNumber, '2025-05')).body;
      const csv = await raw(t, user, url, 'text/csv');
      assert.equal(csv.statusCode, 200);
      assert.match(String(csv.headers['content-type']), /^text\/csv/);
      assert.match(String(csv.headers['content-disposition']), /attachment; filename=".*\.csv"/);
      assert.ok(csv.body.includes('\r\n'), 'RFC 4180 line endings');
      const records = parse(csv.body, { columns: true }) as Array<Record<string, string>>;
      const [opening, ...rest] = records;
      const closing = rest.pop();
      assert.equal(opening?.type, 'opening_balance');
      assert.equal(opening?.balanceAfter, json.openingBalance);
      assert.equal(opening?.createdAt, json.period.from);
      assert.equal(closing?.type, 'closing_balance');
      assert.equal(closing?.balanceAfter, json.closingBalance);
      assert.equal(rest.length, json.lines.length);
      const defused = (value: string | null) =>
        value === null ? '' : /^[=+\-@]/.test(value) ? `'${value}` : value;
      json.lines.forEach((line, i) => {
        const record = rest[i];
        assert.ok(record !== undefined);
        assert.deepEqual(record, {
          id: line.id,
          createdAt: line.createdAt,
          type: line.type,
          direction: line.direction,
          amount: line.amount,
          currency: line.currency,
          balanceAfter: line.balanceAfter,
          counterpartyAccount: line.counterpartyAccount ?? '',
          description: defused(line.description),
        });
      });
      // No cell a spreadsheet would evaluate.
      for (const record of records) {
        for (const value of Object.values(record)) assert.doesNotMatch(value, /^[=+\-@]/);
      }
    });

    it('the PDF names bank, customer, account and period, numbers its pages and ends with the totals', {
      skip: hasPdftotext ? false : 'pdftotext (Debian poppler-utils) is not installed',
    }, async () => {
      const user = await t.customer();
      const { accountNumber } = await t.openAccount(user);
      const events: HistoryEvent[] = Array.from({ length: 130 }, (_, i) => ({
        at: new Date(Date.UTC(2025, 6, 1) + i * 3_600_000).toISOString(),
        direction: i % 3 === 2 ? 'debit' : 'credit',
        amountMinor: BigInt(1000 + i),
        description: `line ${i}`,
      }));
      await writeHistory(t, accountNumber, events);
      const json = (await getStatement(t, user, accountNumber, '2025-07')).body;
      const pdf = await raw(
        t,
        user,
        `/api/v1/accounts/${accountNumber}/statements/2025-07`,
        'application/pdf',
      );
      assert.equal(pdf.statusCode, 200);
      assert.equal(pdf.headers['content-type'], 'application/pdf');
      assert.equal(pdf.rawPayload.subarray(0, 5).toString(), '%PDF-');
      const text = pdfText(pdf.rawPayload);
      assert.match(text, /Corebank/);
      assert.ok(text.includes(accountNumber));
      assert.ok(text.includes(`Customer ${user.username}`), 'customer name');
      assert.match(text, /2025-07-01 to 2025-07-31/);
      const pages = text.split('\f').filter((page) => page.trim() !== '');
      assert.ok(pages.length >= 3, `${pages.length} pages`);
      pages.forEach((page, i) => {
        assert.ok(page.includes(`page ${i + 1} of ${pages.length}`), `page ${i + 1} numbered`);
      });
      const last = pages.at(-1) ?? '';
      assert.match(
        last,
        new RegExp(`Closing balance\\s+${json.closingBalance.replace('.', '\\.')} USD`),
      );
      assert.match(
        last,
        new RegExp(`Total credits\\s+${json.totalCredits.replace('.', '\\.')} USD`),
      );
      assert.doesNotMatch(pages[0] ?? '', /Closing balance/, 'totals only on the last page');
      for (const event of events.slice(0, 5)) assert.ok(text.includes(event.description ?? ''));
    });

    it('an empty month renders in every format', async () => {
      const user = await t.customer();
      const { accountNumber } = await t.openAccount(user);
      const url = `/api/v1/accounts/${accountNumber}/statements/2025-02`;
      const json = await getStatement(t, user, accountNumber, '2025-02');
      assert.equal(json.body.closingBalance, '0.00');
      assert.deepEqual(json.body.lines, []);
      const csv = await raw(t, user, url, 'text/csv');
      assert.equal((parse(csv.body, { columns: true }) as unknown[]).length, 2);
      const pdf = await raw(t, user, url, 'application/pdf');
      assert.equal(pdf.statusCode, 200);
      if (hasPdftotext) assert.match(pdfText(pdf.rawPayload), /No transactions in this period/);
    });

    it('the running month is month to date, with real movements', async () => {
      const { user, account } = await t.fundedCustomer('50.00');
      const other = await t.fundedCustomer('1.00');
      assert.equal((await t.transfer(user, account, other.account, '12.50')).status, 201);
      const month = new Date().toISOString().slice(0, 7);
      const s = (await getStatement(t, user, account, month)).body as StatementBody & {
        monthToDate: boolean;
      };
      assert.equal(s.monthToDate, true);
      assert.equal(s.closingBalance, '37.50');
      assert.equal(s.lines.at(-1)?.counterpartyAccount, other.account);
      assert.equal(s.lines.at(-1)?.type, 'transfer_out');
      assert.equal(s.closingBalance, await t.balance(user, account));
    });

    it('another customer gets 404 exactly like a missing account; staff read as for history', async () => {
      const { user, account } = await t.fundedCustomer('5.00');
      const stranger = await t.customer();
      const missing = '000000000097';
      for (const path of ['statements/2025-01', 'balance']) {
        const foreign = await t.request('GET', `/api/v1/accounts/${account}/${path}`, {
          token: stranger.token,
        });
        const none = await t.request('GET', `/api/v1/accounts/${missing}/${path}`, {
          token: stranger.token,
        });
        assertProblem(foreign, 404, 'NOT_FOUND');
        assert.deepEqual(
          { ...(foreign.body as object), instance: null },
          { ...(none.body as object), instance: null },
        );
        for (const accept of ['text/csv', 'application/pdf']) {
          const hidden = await raw(t, stranger, `/api/v1/accounts/${account}/${path}`, accept);
          assert.equal(hidden.statusCode, 404);
        }
      }
      for (const role of ['auditor', 'teller', 'admin'] as const) {
        const staff = await t.staff(role);
        const response = await t.request('GET', `/api/v1/accounts/${account}/balance`, {
          token: staff.token,
        });
        assert.equal(response.status, 200, role);
        assert.equal((response.body as { balance: string }).balance, '5.00');
      }
      assert.equal((await t.request('GET', `/api/v1/accounts/${account}/balance`)).status, 401);
      assert.equal(
        (await getStatement(t, user, account, '2025-01')).status,
        200,
        'the owner reads it',
      );
    });

    it('refuses bad months, bad instants and unacceptable media types', async () => {
      const { user, account } = await t.fundedCustomer('5.00');
      for (const month of ['2025-13', '2025-00', '1969-12', '9999-01']) {
        assertProblem(await getStatement(t, user, account, month), 400, 'VALIDATION_FAILED');
      }
      for (const at of [
        'yesterday',
        '2025-02-30T00:00:00Z',
        '2025-01-01T00:00:00',
        '2025-01-01',
        '1e10',
      ]) {
        assertProblem(
          await t.request(
            'GET',
            `/api/v1/accounts/${account}/balance?at=${encodeURIComponent(at)}`,
            {
              token: user.token,
            },
          ),
          400,
          'VALIDATION_FAILED',
          'at',
        );
      }
      const refused = await raw(
        t,
        user,
        `/api/v1/accounts/${account}/statements/2025-01`,
        'image/png',
      );
      assert.equal(refused.statusCode, 406);
      assert.equal(JSON.parse(refused.body).code, 'NOT_ACCEPTABLE');
      const preferred = await raw(
        t,
        user,
        `/api/v1/accounts/${account}/statements/2025-01`,
        'application/json;q=0.5, text/csv',
      );
      assert.match(String(preferred.headers['content-type']), /^text\/csv/);
    });

    it('balance at 100 random instants equals a recomputation from the postings', async () => {
      const user = await t.customer();
      const { accountNumber } = await t.openAccount(user);
      const random = prng(424242);
      const events: HistoryEvent[] = Array.from({ length: 300 }, () => ({
        at: new Date(Date.UTC(2024, 0, 1) + Math.floor(random() * 365 * 86_400_000)).toISOString(),
        direction: random() < 0.6 ? 'credit' : 'debit',
        amountMinor: BigInt(1 + Math.floor(random() * 10_000)),
        description: null,
      }));
      await writeHistory(t, accountNumber, events);
      // Recompute from the stored postings themselves, not from what was meant to be written.
      const postings = await t.runtime.database.db
        .selectFrom('postings as p')
        .innerJoin('accounts as a', 'a.id', 'p.account_id')
        .select(['p.direction', 'p.amount_minor', 'p.created_at'])
        .where('a.account_number', '=', accountNumber)
        .execute();
      const instants = Array.from({ length: 100 }, (_, i) => {
        if (i < 10) return postings[Math.floor(random() * postings.length)]?.created_at ?? '';
        return new Date(
          Date.UTC(2023, 11, 1) + Math.floor(random() * 420 * 86_400_000),
        ).toISOString();
      });
      for (const instant of instants) {
        let expected = 0n;
        for (const p of postings) {
          if (Date.parse(p.created_at) <= Date.parse(instant)) {
            expected += p.direction === 'credit' ? p.amount_minor : -p.amount_minor;
          }
        }
        const response = await t.request<{ balance: string; at: string; currency: string }>(
          'GET',
          `/api/v1/accounts/${accountNumber}/balance?at=${encodeURIComponent(instant)}`,
          { token: user.token },
        );
        assert.equal(response.status, 200);
        assert.equal(response.body.at, instant);
        assert.equal(response.body.currency, 'USD');
        assert.equal(response.body.balance, major(expected), instant);
      }
    });

    it('balance at an instant is one index lookup (query plan)', async () => {
      const db = t.runtime.database.db;
      const account = await db
        .selectFrom('accounts')
        .select('id')
        .where('kind', '=', 'customer')
        .executeTakeFirstOrThrow();
      const query = balanceAtQuery(db, account.id, '2025-06-01T00:00:00.000Z').compile();
      if (engine === 'postgres') {
        await sql`analyze postings`.execute(db);
        const plan = await sql<{ 'QUERY PLAN': string }>`explain ${sql.raw(
          query.sql.replace(/\$(\d+)/g, (_, n) => {
            const value = query.parameters[Number(n) - 1];
            return typeof value === 'string' ? `'${value}'` : String(value);
          }),
        )}`.execute(db);
        const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n');
        assert.match(text, /Limit/, text);
        assert.match(text, /Index (Only )?Scan Backward using postings_account_time_idx/, text);
        assert.doesNotMatch(text, /Sort|Seq Scan/, text);
      } else {
        // The same statement as balanceAtQuery, with SQLite's plan of it.
        assert.match(query.sql, /order by "created_at" desc, "id" desc limit \?/);
        const rows = await sql<{
          detail: string;
        }>`explain query plan select balance_after_minor from postings where account_id = ${account.id} and created_at <= ${'2025-06-01T00:00:00.000Z'} order by created_at desc, id desc limit 1`.execute(
          db,
        );
        const text = rows.rows.map((row) => row.detail).join('\n');
        assert.match(
          text,
          /SEARCH postings USING (COVERING )?INDEX postings_account_time_idx/,
          text,
        );
        assert.doesNotMatch(text, /TEMP B-TREE/, text);
      }
    });
  });
}
