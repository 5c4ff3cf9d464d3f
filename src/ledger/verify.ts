import { sql } from 'kysely';
import type { Db } from '../db/database.ts';

export interface LedgerCounts {
  entries: bigint;
  postings: bigint;
  accounts: bigint;
}

export type VerifyResult =
  | { ok: true; counts: LedgerCounts }
  | { ok: false; problem: string; counts: LedgerCounts };

/** Signed effect of a posting on its account's balance; the same expression in both engines. */
const SIGNED = sql`case when p.direction = 'credit' then p.amount_minor else -p.amount_minor end`;

/**
 * Proves the ledger consistent from the database alone, without trusting the code that
 * wrote it. It checks, in order, and reports the first offender it finds:
 * 1. every journal entry has at least two postings and they sum to zero per currency;
 * 2. every posting is in its account's currency and its entry's currency;
 * 3. every stored balance equals the sum of its account's postings;
 * 4. every posting's balance-after equals the running sum of its account's postings;
 * 5. no customer balance is negative;
 * 6. no account's pending, unexpired holds exceed its balance.
 */
export async function verifyLedger(db: Db): Promise<VerifyResult> {
  const countRow = await sql<{ entries: bigint; postings: bigint; accounts: bigint }>`
    select
      (select count(*) from journal_entries) as entries,
      (select count(*) from postings) as postings,
      (select count(*) from accounts) as accounts`.execute(db);
  const counts = countRow.rows[0] ?? { entries: 0n, postings: 0n, accounts: 0n };
  const fail = (problem: string): VerifyResult => ({ ok: false, problem, counts });

  const unbalanced = await sql<{
    id: bigint;
    currency: string | null;
    n: bigint;
    net: bigint | null;
  }>`
    select e.id, p.currency, count(p.id) as n, cast(coalesce(sum(${SIGNED}), 0) as bigint) as net
    from journal_entries e
    left join postings p on p.entry_id = e.id
    group by e.id, p.currency
    having count(p.id) < 2 or coalesce(sum(${SIGNED}), 0) <> 0
    order by e.id
    limit 1`.execute(db);
  const entry = unbalanced.rows[0];
  if (entry !== undefined) {
    return fail(
      entry.n < 2n
        ? `journal entry ${entry.id} has ${entry.n} posting(s); an entry needs at least two`
        : `journal entry ${entry.id} does not balance in ${entry.currency}: postings sum to ${entry.net} minor units`,
    );
  }

  const wrongCurrency = await sql<{ id: bigint; account_number: string }>`
    select p.id, a.account_number
    from postings p
    join accounts a on a.id = p.account_id
    join journal_entries e on e.id = p.entry_id
    where p.currency <> a.currency or p.currency <> e.currency
    order by p.id
    limit 1`.execute(db);
  const posting = wrongCurrency.rows[0];
  if (posting !== undefined) {
    return fail(
      `posting ${posting.id} on account ${posting.account_number} is in the wrong currency`,
    );
  }

  const drifted = await sql<{ account_number: string; balance_minor: bigint; total: bigint }>`
    select a.account_number, a.balance_minor, coalesce(s.total, 0) as total
    from accounts a
    left join (
      select p.account_id, cast(sum(${SIGNED}) as bigint) as total
      from postings p
      group by p.account_id
    ) s on s.account_id = a.id
    where a.balance_minor <> coalesce(s.total, 0)
    order by a.id
    limit 1`.execute(db);
  const account = drifted.rows[0];
  if (account !== undefined) {
    return fail(
      `account ${account.account_number} stores balance ${account.balance_minor} but its postings sum to ${account.total}`,
    );
  }

  const brokenChain = await sql<{
    id: bigint;
    account_number: string;
    balance_after_minor: bigint;
    running: bigint;
  }>`
    select t.id, a.account_number, t.balance_after_minor, t.running
    from (
      select p.id, p.account_id, p.balance_after_minor,
        cast(sum(${SIGNED}) over (partition by p.account_id order by p.id
          rows between unbounded preceding and current row) as bigint) as running
      from postings p
    ) t
    join accounts a on a.id = t.account_id
    where t.balance_after_minor <> t.running
    order by t.id
    limit 1`.execute(db);
  const link = brokenChain.rows[0];
  if (link !== undefined) {
    return fail(
      `posting ${link.id} on account ${link.account_number} says balance-after ${link.balance_after_minor} but the running sum is ${link.running}`,
    );
  }

  const negative = await sql<{ account_number: string; balance_minor: bigint }>`
    select account_number, balance_minor from accounts
    where kind = 'customer' and balance_minor < 0
    order by id
    limit 1`.execute(db);
  const overdrawn = negative.rows[0];
  if (overdrawn !== undefined) {
    return fail(
      `customer account ${overdrawn.account_number} has a negative balance ${overdrawn.balance_minor}`,
    );
  }

  const now = new Date().toISOString();
  const overHeld = await sql<{ account_number: string; balance_minor: bigint; held: bigint }>`
    select a.account_number, a.balance_minor, cast(sum(h.amount_minor) as bigint) as held
    from holds h
    join accounts a on a.id = h.account_id
    where h.status = 'pending' and h.expires_at > ${now}
    group by a.id, a.account_number, a.balance_minor
    having sum(h.amount_minor) > a.balance_minor
    order by a.id
    limit 1`.execute(db);
  const held = overHeld.rows[0];
  if (held !== undefined) {
    return fail(
      `account ${held.account_number} has pending holds of ${held.held} minor units but a balance of ${held.balance_minor}`,
    );
  }

  return { ok: true, counts };
}
