-- One money batch as PostgreSQL sees it (bench/trials/reference-checks.sh): 64 transfers,
-- between 128 distinct accounts with `-D spread=1`, or all between the same two accounts (a
-- hot account) with `-D spread=0`.
\set a random(1, 1800)
begin;
select id from accounts where id between :a and :a + 127 order by id for update;
with e as (
  insert into journal_entries (kind, currency, amount_minor, actor_user_id, created_at)
  select 'transfer', 'USD', 1, 'u' || (:a + g), now() from generate_series(0, 63) g
  returning id)
insert into postings (entry_id, account_id, direction, amount_minor, currency, balance_after_minor, counterparty_account_id, created_at)
select e.id, :a + s.side + (e.id % 64) * 2 * :spread, case s.side when 0 then 'debit' else 'credit' end, 1, 'USD', 0, :a + (1 - s.side) + (e.id % 64) * 2 * :spread, now()
from e cross join (values (0), (1)) s(side);
commit;
