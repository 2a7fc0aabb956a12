#!/usr/bin/env bash
# The figures of README "When an instance dies", table "What persisting costs": for each run,
# pgbench's single-row UPDATE rate (the physical reference) and then the crash example's
# `--measure`, against the same throwaway server, one after the other.
#
#   task-manager-postgres/benches/persist.sh [RUNS]      (default 3 runs; from the repository)
#
# It starts a server with scripts/postgres, builds the example in release, and stops the
# server at the end. pgbench comes from the same PostgreSQL installation as the server.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-3}"
dir="$(mktemp -d)"
chmod 755 "$dir" # the server may run as `postgres` (scripts/postgres, as root)
url="$(scripts/postgres start "$dir/pg")"
trap 'scripts/postgres stop "$dir/pg" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
pgbench="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/pgbench"
[[ -n "${PG_BIN:-}" ]] && pgbench="$PG_BIN/pgbench"
psql_bin="$(dirname "$pgbench")/psql"
"$psql_bin" -q "$url" -c "CREATE TABLE pgbench_reference (id int PRIMARY KEY, v bigint NOT NULL DEFAULT 0);
  INSERT INTO pgbench_reference (id) SELECT generate_series(1, 1000);"
cargo build -q --release --example crash
for run in $(seq 1 "$runs"); do
  echo "run $run: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  "$pgbench" -n -c 1 -T 10 -f task-manager-postgres/benches/pgbench-update.sql "$url" 2>&1 \
    | grep -E '^(latency average|tps)' | sed 's/^/  pgbench: /'
  TM_DATABASE_URL="$url" cargo run -q --release --example crash -- --measure 2>&1 \
    | grep -E 'tasks/s' | sed 's/^/  /'
done
