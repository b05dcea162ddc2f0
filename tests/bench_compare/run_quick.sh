#!/bin/sh
# Runs `bench/compare --quick` into a temporary directory and checks that it succeeds and writes
# results.md, results.json (with loom, MPI and Gloo numbers) and at least one SVG plot.
# usage: run_quick.sh SOURCE_DIR BUILD_DIR
src=$1
bld=$2
if ! command -v mpirun >/dev/null 2>&1 || [ ! -f /usr/include/gloo/allreduce.h ]; then
  echo "SKIP: needs mpirun (openmpi-bin, libopenmpi-dev) and Gloo (libgloo-dev)"
  exit 77
fi
out=$(mktemp -d /tmp/loom-bench-compare-XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT
"$src/bench/compare" --quick --build-dir "$bld" --out "$out" --timeout 120 || { echo "FAIL: bench/compare exited $?"; exit 1; }
for f in results.md results.json; do
  [ -s "$out/$f" ] || { echo "FAIL: $f missing"; exit 1; }
done
ls "$out"/*.svg >/dev/null 2>&1 || { echo "FAIL: no SVG plot"; exit 1; }
python3 - "$out/results.json" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
libs = {lib for c in r["cases"] for lib in c["libs"]}
ratios = [c["ratios"].get("mpi") for c in r["cases"] if c["ratios"].get("mpi")]
ok = {"loom", "mpi", "gloo"} <= libs and ratios and r["machine"]["memcpy_gbps"] > 0 and r["machine"]["tcp_loopback_gbps"] > 0
# Each launch records the cores' round trip just before it (where two CPUs are there to measure).
import os
if len(os.sched_getaffinity(0)) >= 2:
    ok = ok and r["launches"] and all(x["c2c_ns"] and x["c2c_ns"] > 0 for x in r["launches"])
    ok = ok and "Cores: a cache line's round trip" in open(sys.argv[1].replace("results.json", "results.md")).read()
print("libraries:", sorted(libs), "cases:", len(r["cases"]), "memcpy", r["machine"]["memcpy_gbps"], "tcp", r["machine"]["tcp_loopback_gbps"])
sys.exit(0 if ok else 1)
PY
# The baseline check: a run checked against its own ratios passes; against a baseline that
# says loom was twice as fast everywhere it fails, naming the regressed ratios.
base="$out/baseline.json"
"$src/bench/compare" --rerender --update-baseline --baseline "$base" --out "$out" >/dev/null ||
  { echo "FAIL: --rerender --update-baseline"; exit 1; }
"$src/bench/compare" --rerender --check --baseline "$base" --out "$out" >"$out/check.txt" ||
  { echo "FAIL: a run checked against its own baseline"; cat "$out/check.txt"; exit 1; }
python3 - "$base" <<'PY' || exit 1
import json, sys
b = json.load(open(sys.argv[1]))
b["ratios"] = {k: 2 * v for k, v in b["ratios"].items()}
json.dump(b, open(sys.argv[1], "w"))
PY
if "$src/bench/compare" --rerender --check --baseline "$base" --out "$out" >"$out/check.txt"; then
  echo "FAIL: --check passed against a baseline twice as fast"; exit 1
fi
grep -q "REGRESSED" "$out/check.txt" || { echo "FAIL: --check did not name the regressions"; cat "$out/check.txt"; exit 1; }
# Buffer kinds: this run's (page-aligned) is recorded; ratios measured on loomMemAlloc buffers
# neither check against nor overwrite a page-aligned baseline (exit 2), and make their own.
grep -q "Buffers: page-aligned in every program" "$out/results.md" || { echo "FAIL: results.md does not name the buffers"; exit 1; }
"$src/bench/compare" --rerender --update-baseline --baseline "$out/plain.json" --out "$out" >/dev/null ||
  { echo "FAIL: --update-baseline into a new file"; exit 1; }
python3 - "$out/results.json" <<'PY' || { echo "FAIL: could not relabel results.json"; exit 1; }
import json, sys
r = json.load(open(sys.argv[1]))
assert r["meta"]["buffers"] == "page-aligned", r["meta"].get("buffers")
r["meta"]["buffers"] = "loomMemAlloc"
json.dump(r, open(sys.argv[1], "w"))
PY
"$src/bench/compare" --rerender --check --baseline "$out/plain.json" --out "$out" >"$out/check.txt"
rc=$?
[ $rc -eq 2 ] && grep -q "do not compare" "$out/check.txt" ||
  { echo "FAIL: loomMemAlloc ratios checked against a page-aligned baseline (exit $rc)"; cat "$out/check.txt"; exit 1; }
"$src/bench/compare" --rerender --update-baseline --baseline "$out/plain.json" --out "$out" >"$out/update.txt" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "holds ratios measured on page-aligned" "$out/update.txt" ||
  { echo "FAIL: a page-aligned baseline overwritten with loomMemAlloc ratios (exit $rc)"; cat "$out/update.txt"; exit 1; }
grep -q "Buffers: every library's from .loomMemAlloc." "$out/results.md" || { echo "FAIL: results.md buffers line"; exit 1; }
"$src/bench/compare" --rerender --update-baseline --check --baseline "$out/huge.json" --out "$out" >"$out/check.txt" ||
  { echo "FAIL: a loomMemAlloc baseline of its own"; cat "$out/check.txt"; exit 1; }
grep -q '"buffers": "loomMemAlloc"' "$out/huge.json" || { echo "FAIL: the baseline does not record its kind"; exit 1; }
echo "PASS"
