#!/usr/bin/env bash
# Instructions per task of a child against a top-level task of the same three-step flow
# (benches/children.rs), counted by valgrind (cachegrind): N tasks from outside any task, 1,000
# in flight, against the same N tasks as children of one parent, `fan_out(..).limit(1000)
# .join_all()`. Each mode runs at two sizes; the difference divided by the extra tasks removes
# the fixed costs. Needs valgrind.
#
# Usage: benches/children.sh
set -euo pipefail

command -v valgrind >/dev/null || { echo "children.sh: valgrind is not installed" >&2; exit 3; }
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

binary="$(cargo bench -p task-manager-core --bench children --no-run 2>&1 |
  sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)"
[[ -x "$binary" ]] || { echo "children.sh: bench binary not found" >&2; exit 1; }

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

small=20000
large=40000
count() { # mode tasks -> total instructions
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$scratch/out" \
    "$binary" --bench "$1" "$2" >/dev/null 2>"$scratch/err" ||
    { cat "$scratch/err" >&2; exit 1; }
  sed -n 's/^summary: \([0-9]*\).*/\1/p' "$scratch/out"
}

for mode in roots children; do
  a="$(count "$mode" "$small")"
  b="$(count "$mode" "$large")"
  echo "$mode: $(((b - a) / (large - small))) instructions/task"
done
