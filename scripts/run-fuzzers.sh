#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang in build/fuzz and runs each for a bounded time
# over a scratch copy of its seed corpus (fuzz/corpus/<target>/, never grown by runs).
#   scripts/run-fuzzers.sh [SECONDS_PER_TARGET]    (default 20)
# Environment: LOOM_FUZZ_BUILD (build directory, default build/fuzz), LOOM_FUZZ_TARGETS
# (space-separated subset), LOOM_FUZZ_JOBS (build parallelism). Exits non-zero on any crash,
# leak, sanitizer report or failed invariant, naming the reproducer saved under build/fuzz/crashes/.
# Needs Debian packages clang and libclang-rt-14-dev.
set -euo pipefail

secs="${1:-20}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${LOOM_FUZZ_BUILD:-$root/build/fuzz}"
targets="${LOOM_FUZZ_TARGETS:-fuzz_unique_id fuzz_bootstrap_frames fuzz_transport_wire fuzz_params fuzz_plan_config fuzz_topo_tuning}"
jobs="${LOOM_FUZZ_JOBS:-$(nproc)}"

for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "run-fuzzers: $tool not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
done

# -O1 -g1 as in the sanitizer presets: a third less compile time, and line tables are enough for reports.
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOOM_FUZZ=ON \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DLOOM_BUILD_TESTS=OFF -DLOOM_BUILD_BENCH=OFF >/dev/null
fi
# shellcheck disable=SC2086
cmake --build "$build" --target $targets -j "$jobs" >/dev/null

crashes="$build/crashes"
mkdir -p "$crashes"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

failed=0
for t in $targets; do
  corpus="$scratch/$t"
  mkdir -p "$corpus"
  cp "$root/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  log="$scratch/$t.log"
  start=$(date +%s)
  # -rss_limit_mb: a decoder that allocates for a huge claimed length fails as OOM.
  if "$build/fuzz/$t" "$corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
       -print_final_stats=1 -artifact_prefix="$crashes/$t-" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "run-fuzzers: $t ok ($runs runs in $(( $(date +%s) - start )) s)"
  else
    failed=1
    echo "run-fuzzers: $t FAILED; last lines of its log:" >&2
    tail -n 40 "$log" >&2
    repro=$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 | sed 's/Test unit written to //')
    echo "run-fuzzers: reproducer: ${repro:-none written}  (rerun: $build/fuzz/$t ${repro:-<file>})" >&2
  fi
done
exit "$failed"
