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
# A run on the other kind of buffer (--hugepages) is not checked against a plain-buffer baseline.
python3 - "$out/results.json" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
r["meta"]["buffers"] = "loomMemAlloc"
json.dump(r, open(sys.argv[1], "w"))
PY
if "$src/bench/compare" --rerender --check --baseline "$base" --out "$out" >"$out/check.txt"; then
  echo "FAIL: --check compared loomMemAlloc ratios with a plain-buffer baseline"; exit 1
fi
grep -q "do not compare" "$out/check.txt" || { echo "FAIL: buffer mismatch not named"; cat "$out/check.txt"; exit 1; }
echo "PASS"
