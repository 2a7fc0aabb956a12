#!/usr/bin/env bash
# What observability costs a task when nobody listens: the library as users get it (default
# features: `tracing` compiled in), no add-on installed, no subscriber, against the core alone
# (built with --no-default-features). Issue 7 asks for this to be within noise.
#
# A cargo feature cannot be switched inside one binary, so the suite is built twice and the two
# binaries run in turn, ROUNDS times each, interleaved (ABBA: the order flips every round), so
# that a change in the machine's load falls on both alike. Each run is the suite's throughput
# scenario (3 steps, 1,000 in flight, TASKS tasks, 3 repetitions) and yields its best
# repetition: on a shared VM, slow repetitions are other tenants, not the code. A build's figure
# is the median of its runs; the noise is the spread of its own runs.
# With valgrind installed, instructions per task are counted too (exact, see instructions.sh).
#
# Usage: benches/observe_cost.sh [rounds]     (default 6; about 1 minute a round)
# Writes target/task-manager-bench/observe-cost.json.
set -euo pipefail

rounds="${1:-6}"
tasks="${TM_BENCH_TASKS:-500000}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."

build() { # cargo args... -> path of the suite binary
  cargo bench -p task-manager-core --bench suite --no-run "$@" 2>&1 |
    sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1
}
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# Copied: the second build replaces the first one's file.
cp "$(build --no-default-features)" "$scratch/core"
cp "$(build)" "$scratch/observed"

run() { # build runtime -> wall ns/task of the run's best repetition
  TM_BENCH_ONLY=throughput TM_BENCH_RUNTIMES="$2" TM_BENCH_CONTENDERS=library \
    TM_BENCH_IN_FLIGHT=1000 TM_BENCH_STEPS=3 TM_BENCH_REPS=3 TM_BENCH_TASKS="$tasks" \
    TM_BENCH_ORIGINAL=0 TM_BENCH_OUT="$scratch/out" "$scratch/$1" --bench 2>/dev/null |
    grep '^{' | sed -n 's/.*"best_wall_ns_per_task":\([0-9.]*\).*/\1/p'
}

# Median, min and max of the numbers on stdin.
stats() { sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f %.1f %.1f\n", m, v[1], v[NR] }'; }

json_rows=()
printf '%-15s %-9s %10s %18s %8s\n' runtime build "median ns" "min..max" spread
for runtime in current_thread multi_thread; do
  : >"$scratch/core.$runtime"
  : >"$scratch/observed.$runtime"
  for round in $(seq "$rounds"); do
    order=(core observed)
    ((round % 2)) || order=(observed core)
    for build in "${order[@]}"; do
      run "$build" "$runtime" >>"$scratch/$build.$runtime"
    done
  done
  read -r core_median core_min core_max < <(stats <"$scratch/core.$runtime")
  read -r obs_median obs_min obs_max < <(stats <"$scratch/observed.$runtime")
  for build in core observed; do
    read -r median min max < <(stats <"$scratch/$build.$runtime")
    spread="$(awk -v a="$min" -v b="$max" -v m="$median" 'BEGIN { printf "%.1f%%", (b - a) / m * 100 }')"
    printf '%-15s %-9s %10s %18s %8s\n' "$runtime" "$build" "$median" "$min..$max" "$spread"
  done
  ratio="$(awk -v a="$obs_median" -v b="$core_median" 'BEGIN { printf "%.3f", a / b }')"
  echo "$runtime: observed / core = $ratio"
  json_rows+=("{\"runtime\":\"$runtime\",\"core\":{\"median\":$core_median,\"min\":$core_min,\"max\":$core_max},\"observed\":{\"median\":$obs_median,\"min\":$obs_min,\"max\":$obs_max},\"ratio\":$ratio}")
done

instructions="null"
if command -v valgrind >/dev/null; then
  core_instr="$(TM_INSTR_CARGO_ARGS=--no-default-features "$here/instructions.sh" library | sed -n 's/.*: \([0-9]*\) .*/\1/p')"
  obs_instr="$("$here/instructions.sh" library | sed -n 's/.*: \([0-9]*\) .*/\1/p')"
  echo "instructions/task: core $core_instr, observed $obs_instr"
  instructions="{\"core\":$core_instr,\"observed\":$obs_instr}"
fi

out="target/task-manager-bench"
mkdir -p "$out"
rows="$(IFS=,; echo "${json_rows[*]}")"
echo "{\"date\":\"$(date +%F)\",\"rounds\":$rounds,\"tasks\":$tasks,\"wall_ns_per_task\":[$rows],\"instructions_per_task\":$instructions}" >"$out/observe-cost.json"
echo "wrote $out/observe-cost.json"
