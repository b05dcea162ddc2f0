#!/usr/bin/env bash
# 4 hosts x 1 rank, then 2 hosts x 2 ranks: every collective on small counts is correct, and the
# transport is chosen by itself (shm between ranks of one host, tcp across hosts, on eth0).
# NETLAB_LAUNCH=torchrun|uid picks the launch (lib.sh, lab_start).
set -u
source "$(dirname "$0")/lib.sh"
t_init collectives-${NETLAB_LAUNCH:-uid}
: "${MP_COLLECTIVES:?}" "${MP_MISC:?}"
LAB_ENV=(LOOM_TIMEOUT=30 LOOM_INIT_TIMEOUT=15 LOOM_DEBUG=DEBUG)
lab_up 4 || t_fail "lab up"

run_case() {  # hosts per_host
  local hosts=$1 per=$2 n=$(($1 * $2)) r
  echo "== $hosts hosts x $per ranks: mp_collectives"
  local t0; t0=$(lab_now_ms)
  lab_start "$T_DIR/coll-${hosts}x$per" "$hosts" "$per" 30 "$MP_COLLECTIVES" --counts 0,1,7,1023 --types float,int32,bfloat16
  lab_wait
  for ((r = 0; r < n; r++)); do
    local out=$LAB_JOBDIR/rank$r.out
    [[ ${LAB_RC[r]} == 0 ]] || { t_dump 30; t_fail "rank $r exited ${LAB_RC[r]}"; }
    grep -qE "^rank $r/$n: [0-9]+ checks, 0 wrong" "$out" || { t_dump; t_fail "rank $r: no clean summary"; }
    # Transport choice: per - 1 shm peers on the same host, the rest over tcp.
    local want="fabric rank $r: $((per - 1)) shm peers, $((n - per)) tcp peers"
    grep -q "$want" "$out" || { t_dump; t_fail "rank $r: expected '$want'"; }
  done
  echo "   ok: $(grep -h 'checks' "$LAB_JOBDIR"/rank*.out | head -1 | cut -d: -f2) per rank, $(( $(lab_now_ms) - t0 )) ms"
  lab_check_leaks || t_fail "leaks after ${hosts}x$per"

  echo "== $hosts hosts x $per ranks: mp_misc quick"
  lab_start "$T_DIR/misc-${hosts}x$per" "$hosts" "$per" 30 "$MP_MISC" quick
  lab_wait
  for ((r = 0; r < n; r++)); do
    [[ ${LAB_RC[r]} == 0 ]] && grep -q "^rank $r/$n ok" "$LAB_JOBDIR/rank$r.out" || { t_dump; t_fail "mp_misc rank $r"; }
  done
  lab_check_leaks || t_fail "leaks after mp_misc ${hosts}x$per"
}

run_case 4 1
run_case 2 2
# The data connections ran over the lab's addresses, not loopback.
grep -hq "10\.77\.0\." "$T_DIR"/coll-4x1/rank*.out || echo "note: no 10.77.0.x address in debug logs"
exit 0
