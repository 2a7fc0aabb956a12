#!/usr/bin/env bash
# Measures the original TypeScript library, @sisense/task-manager, on the same
# flow as the Rust suite and prints one JSON line on stdout.
#
# The package is installed from the npm registry into a scratch folder under the
# cargo target directory (never committed, removed by `cargo clean`); set
# TM_ORIGINAL_DIR to install it elsewhere. Sizes come from the environment, see
# bench.mjs; TM_BENCH_SMOKE=1 makes every size tiny.
set -euo pipefail

package="@sisense/task-manager@0.1.1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workspace="$(cd "$here/../../.." && pwd)"
scratch="${TM_ORIGINAL_DIR:-${CARGO_TARGET_DIR:-$workspace/target}/tm-original}"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run.sh: $tool is not installed" >&2
    exit 3
  fi
done

# Install once; a marker keeps reruns offline and fast.
marker="$scratch/.installed-0.1.1"
if [[ ! -f "$marker" ]]; then
  mkdir -p "$scratch"
  # npm output goes to stderr so that stdout carries only the JSON line.
  # Exit 4 (like 3 above): the environment cannot run the original, the suite skips it.
  (cd "$scratch" &&
    { [[ -f package.json ]] || echo '{"name":"tm-original-scratch","private":true}' >package.json; } &&
    npm install --no-audit --no-fund --loglevel=error "$package" 1>&2) ||
    { echo "run.sh: cannot install $package from the npm registry" >&2; exit 4; }
  touch "$marker"
fi

# --expose-gc lets the memory probe collect garbage before each snapshot.
TM_ORIGINAL_DIR="$scratch" exec node --expose-gc "$here/bench.mjs"
