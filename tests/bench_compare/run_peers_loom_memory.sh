#!/bin/sh
# The reference programs on loomMemAlloc buffers (-R 1, what bench/compare --hugepages runs): every
# collective checked element-wise at 2 ranks (8 B to 2 MiB, the largest 2 MiB aligned), the header
# and the JSON lines name the buffers, and -R 2 is refused. Tests whichever of the two is built.
# usage: run_peers_loom_memory.sh BUILD_DIR
peers=$1/bench/peers
out=$(mktemp -d /tmp/loom-peers-R1-XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT
sweep="all -b 8 -e 2M -f 64 -n 2 -w 1 -c 1 -R 1"
tested=0
if command -v mpirun >/dev/null 2>&1 && [ -x "$peers/mpi_bench" ]; then
  timeout -k 10 120 mpirun --allow-run-as-root --oversubscribe -n 2 "$peers/mpi_bench" $sweep -J "$out/mpi.json" \
    >"$out/mpi.txt" 2>&1 || { echo "FAIL: mpi_bench -R 1 exited $?"; cat "$out/mpi.txt"; exit 1; }
  tested="$tested mpi"
fi
if [ -x "$peers/gloo_bench" ]; then
  timeout -k 10 120 "$peers/gloo_bench" $sweep -J "$out/gloo.json" --np 2 --timeout 100 >"$out/gloo.txt" 2>&1 ||
    { echo "FAIL: gloo_bench -R 1 exited $?"; cat "$out/gloo.txt"; exit 1; }
  tested="$tested gloo"
  if "$peers/gloo_bench" allreduce -R 2 >"$out/bad.txt" 2>&1; then echo "FAIL: -R 2 accepted"; exit 1; fi
  grep -q -e "-R must be 0" "$out/bad.txt" || { echo "FAIL: -R 2 message"; cat "$out/bad.txt"; exit 1; }
fi
[ "$tested" != 0 ] || { echo "SKIP: neither mpi_bench nor gloo_bench is built (libopenmpi-dev, libgloo-dev)"; exit 77; }
for f in ${tested#0 }; do
  grep -q "buffers loomMemAlloc (-R 1)" "$out/$f.txt" || { echo "FAIL: $f header does not name the buffers"; cat "$out/$f.txt"; exit 1; }
  grep -q "Out of bounds values : 0 OK" "$out/$f.txt" || { echo "FAIL: $f results wrong"; cat "$out/$f.txt"; exit 1; }
  python3 - "$out/$f.json" <<'PY' || { echo "FAIL: $f JSON lines"; cat "$out/$f.json"; exit 1; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if not r.get("summary")]
sizes = {r["size"] for r in rows}
assert len(rows) >= 10 and 2 << 20 in sizes, (len(rows), sorted(sizes))
assert all(r["local_register"] == 1 for r in rows)
assert all(m["wrong"] == 0 for r in rows for m in (r.get("oop"), r.get("ip")) if m)
PY
done
echo "PASS:$tested"
