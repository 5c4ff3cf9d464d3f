#!/usr/bin/env bash
# Foreign keys against statement-level reference checks (migration 0024, decision 0026),
# measured as PostgreSQL sees one money batch: lock the accounts, insert 64 journal entries
# and their 128 postings, commit. Two fresh databases with the current schema; in one the
# four foreign keys of the write path are put back and the triggers dropped, as before 0024.
# pgbench runs the same transaction on each, alternating, single client, durable commits.
#
#   bash bench/trials/reference-checks.sh            # needs pgbench and PostgreSQL at $ADMIN_URL
#   ROUNDS=3 SECONDS_EACH=8 bash bench/trials/reference-checks.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
admin="${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
rounds="${ROUNDS:-3}"
seconds="${SECONDS_EACH:-8}"
base="${admin%/*}"
for variant in fk trig; do
  psql "$admin" -qc "set client_min_messages = warning" -qc "drop database if exists corebank_refcheck_$variant" -qc "create database corebank_refcheck_$variant"
  DATABASE_URL="$base/corebank_refcheck_$variant" ./node_modules/.bin/node src/cli.ts migrate >/dev/null
  psql "$base/corebank_refcheck_$variant" -v ON_ERROR_STOP=1 -q <<'SQL'
insert into users (id, username, email, full_name, password_hash, created_at, updated_at)
  select 'u' || g, 'u' || g, 'u' || g || '@x', 'U', 'x', now(), now() from generate_series(1, 2000) g;
insert into accounts (account_number, user_id, kind, type, currency, status, balance_minor, created_at)
  select lpad(g::text, 12, '0'), 'u' || g, 'customer', 'checking', 'USD', 'active', 0, now()
  from generate_series(1, 2000) g;
analyze;
SQL
done
psql "$base/corebank_refcheck_fk" -v ON_ERROR_STOP=1 -q <<'SQL'
drop trigger postings_references on postings;
drop trigger journal_entries_references on journal_entries;
alter table postings
  add foreign key (entry_id) references journal_entries (id),
  add foreign key (account_id) references accounts (id),
  add foreign key (counterparty_account_id) references accounts (id);
alter table journal_entries add foreign key (actor_user_id) references users (id);
SQL
# Warm-up, not reported: the first seconds on a fresh database are dominated by its first
# checkpoint and cold caches.
for variant in fk trig; do
  pgbench "$base/corebank_refcheck_$variant" -n -c 1 -T 3 -D spread=1 -f bench/trials/reference-checks.sql >/dev/null 2>&1
done
for shape in batch hot; do
  spread=1
  [ "$shape" = hot ] && spread=0
  for round in $(seq 1 "$rounds"); do
    for variant in fk trig; do
      printf '%-5s %-5s round %s: ' "$shape" "$variant" "$round"
      pgbench "$base/corebank_refcheck_$variant" -n -c 1 -T "$seconds" \
        -D "spread=$spread" -f bench/trials/reference-checks.sql 2>&1 |
        grep -E 'latency average|failed transactions' | tr '\n' ' '
      echo
    done
  done
done
for variant in fk trig; do psql "$admin" -qc "drop database corebank_refcheck_$variant"; done
