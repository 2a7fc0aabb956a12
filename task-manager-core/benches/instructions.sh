#!/usr/bin/env bash
# Instructions per task for each contender, counted by valgrind (cachegrind): exact and
# repeatable, unlike wall time on a shared 2-core machine. Current_thread runtime, 3 steps,
# 1,000 in flight (the headline shape).
#
# Usage: benches/instructions.sh [contender ...]   (default: empty plain token+registry tuned library)
#        TM_INSTR_CARGO_ARGS="--no-default-features" benches/instructions.sh library
#        TM_BENCH_LIBRARY_POLICY=1 benches/instructions.sh library   (each step declares an
#          untriggered `timeout` and `retry`: the cost of a declared policy)
#        TM_BENCH_TOKEN_POLICY=timeout benches/instructions.sh token+registry   (each step
#          inside `tokio::time::timeout`: the hand-written cost of a step time limit)
#
# TM_INSTR_CARGO_ARGS: extra arguments for cargo when it builds the suite (features).
# Each contender runs at two sizes; the difference divided by the extra tasks removes the fixed
# costs (runtime start, warm-up, report). Needs valgrind (`apt-get install valgrind`).
set -euo pipefail

command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 3; }
# From the workspace root, where cargo's paths start.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# Build the suite once and find its binary in cargo's "Executable" line.
# shellcheck disable=SC2086 # the extra arguments are words on purpose
binary="$(cargo bench -p task-manager-core --bench suite --no-run ${TM_INSTR_CARGO_ARGS:-} 2>&1 |
  sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)"
[[ -x "$binary" ]] || { echo "instructions.sh: suite binary not found" >&2; exit 1; }

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

small=20000
large=40000
count() { # contender tasks -> total instructions
  TM_BENCH_ONLY=throughput TM_BENCH_RUNTIMES=current_thread TM_BENCH_IN_FLIGHT=1000 \
    TM_BENCH_STEPS=3 TM_BENCH_REPS=1 TM_BENCH_CONTENDERS="$1" TM_BENCH_TASKS="$2" \
    TM_BENCH_OUT="$scratch" \
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$scratch/out" \
    "$binary" --bench >/dev/null 2>"$scratch/err" ||
    { cat "$scratch/err" >&2; exit 1; }
  sed -n 's/^summary: \([0-9]*\).*/\1/p' "$scratch/out"
}

contenders=("$@")
[[ ${#contenders[@]} -gt 0 ]] || contenders=(empty plain token+registry tuned library)
for contender in "${contenders[@]}"; do
  a="$(count "$contender" "$small")"
  b="$(count "$contender" "$large")"
  echo "$contender: $(((b - a) / (large - small))) instructions/task"
done
