#!/usr/bin/env bash
# Builds and runs the whole suite: release build (all tests), then ASan+UBSan and TSan builds
# (unit and multi-process tests). Prints one closing line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
passed=0
failed=0
failures=()

run_suite() {  # preset, ctest label regex (empty = all)
  local preset=$1 filter=$2
  echo "=== $preset: configure and build"
  cmake --preset "$preset" >/dev/null || { failures+=("$preset: configure"); failed=$((failed + 1)); return; }
  if ! cmake --build "build/$preset" -j "$jobs"; then
    failures+=("$preset: build"); failed=$((failed + 1)); return
  fi
  echo "=== $preset: tests"
  local log="build/$preset/ctest.log"
  ctest --test-dir "build/$preset" -j "$jobs" --output-on-failure --timeout 600 ${filter:+-L "$filter"} 2>&1 | tee "$log"
  local p f
  p=$(grep -Eo '[0-9]+ tests passed' "$log" | grep -Eo '^[0-9]+' || true)
  f=$(grep -Eo 'tests passed, [0-9]+ tests failed' "$log" | grep -Eo '[0-9]+ tests failed' | grep -Eo '^[0-9]+' || true)
  local total
  total=$(grep -Eo 'out of [0-9]+' "$log" | grep -Eo '[0-9]+' || echo 0)
  f=${f:-0}
  if [ -z "$p" ]; then p=$((total - f)); fi
  passed=$((passed + p))
  failed=$((failed + f))
  [ "$f" -eq 0 ] || failures+=("$preset: $f failed")
  grep -q "No tests were found" "$log" && { failures+=("$preset: no tests"); failed=$((failed + 1)); }
}

start=$(date +%s)
run_suite release ""
run_suite asan "sanitize"
run_suite tsan "sanitize"  # without the single-threaded pure layers (tests/unit/CMakeLists.txt)

# Every decoder of network and file bytes under libFuzzer for a bounded time (FUZZ_SECONDS each).
echo "=== fuzz: ${FUZZ_SECONDS:-5} s per target"
if scripts/run-fuzzers.sh "${FUZZ_SECONDS:-5}"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); failures+=("fuzzers")
fi
echo "=== suite took $(( $(date +%s) - start )) s"
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
