#!/bin/sh
# The reference programs on loomMemAlloc buffers (-R 1, what bench/compare --hugepages runs):
# every collective checked element-wise at 2 ranks, the header names the buffers, and -R 2 is refused.
# usage: run_peers_registered.sh BUILD_DIR
peers=$1/bench/peers
if ! command -v mpirun >/dev/null 2>&1 || [ ! -x "$peers/mpi_bench" ] || [ ! -x "$peers/gloo_bench" ]; then
  echo "SKIP: needs mpi_bench and gloo_bench (openmpi-bin, libopenmpi-dev, libgloo-dev)"
  exit 77
fi
out=$(mktemp -d /tmp/loom-peers-R1-XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT
sweep="all -b 8 -e 4M -f 64 -n 2 -w 1 -c 1 -R 1"
timeout 120 mpirun --allow-run-as-root --oversubscribe -n 2 "$peers/mpi_bench" $sweep >"$out/mpi.txt" 2>&1 ||
  { echo "FAIL: mpi_bench -R 1 exited $?"; cat "$out/mpi.txt"; exit 1; }
timeout 120 "$peers/gloo_bench" $sweep --np 2 --timeout 100 >"$out/gloo.txt" 2>&1 ||
  { echo "FAIL: gloo_bench -R 1 exited $?"; cat "$out/gloo.txt"; exit 1; }
for f in mpi gloo; do
  grep -q "buffers loomMemAlloc (-R 1)" "$out/$f.txt" || { echo "FAIL: $f header does not name the buffers"; cat "$out/$f.txt"; exit 1; }
  grep -q "Out of bounds values : 0 OK" "$out/$f.txt" || { echo "FAIL: $f results wrong"; cat "$out/$f.txt"; exit 1; }
  rows=$(grep -c "^ *[0-9]" "$out/$f.txt")
  [ "$rows" -ge 10 ] || { echo "FAIL: $f printed $rows rows"; cat "$out/$f.txt"; exit 1; }
done
if "$peers/gloo_bench" allreduce -R 2 >"$out/bad.txt" 2>&1; then echo "FAIL: -R 2 accepted"; exit 1; fi
grep -q "\-R must be 0" "$out/bad.txt" || { echo "FAIL: -R 2 message"; cat "$out/bad.txt"; exit 1; }
echo PASS
