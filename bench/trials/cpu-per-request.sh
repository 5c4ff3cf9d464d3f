#!/usr/bin/env bash
# CPU time the server process spends per `GET /health/live` (issue #17): starts `src/main.ts`
# from the checkout DIR (default: this one) on a fresh SQLite data directory, warms it up with
# 20,000 requests, then reads the process's utime+stime from /proc around REQUESTS requests
# (default 200,000) at 64 connections. CPU per request does not depend on how fast the load
# generator runs, so two checkouts can be compared on a shared machine; alternate them, as
# run-to-run spread here is about ±10%.
#
#   bash bench/trials/cpu-per-request.sh /path/to/checkout-a; bash bench/trials/cpu-per-request.sh
set -euo pipefail
dir="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
requests="${REQUESTS:-200000}"
cd "$dir"
data=$(mktemp -d)
port=$((4100 + RANDOM % 500))
DATA_DIR="$data" PORT="$port" HOST=127.0.0.1 RATE_LIMITS=off PAYMENT_NETWORK_SANDBOX=off \
  ./node_modules/.bin/node src/main.ts >"$data/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break
  sleep 0.5
done
./node_modules/.bin/autocannon -c 64 -a 20000 "http://127.0.0.1:$port/health/live" >/dev/null 2>&1
ticks=$(getconf CLK_TCK)
before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
./node_modules/.bin/autocannon -c 64 -a "$requests" "http://127.0.0.1:$port/health/live" >/dev/null 2>&1
after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
echo "$dir: $(((after - before) * 1000000 / ticks / requests)) µs of server CPU per request" \
  "($requests requests; $(wc -l <"$data/log") log lines)"
