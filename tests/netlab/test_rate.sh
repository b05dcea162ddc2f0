#!/usr/bin/env bash
# One host limited to 10 Mbit/s (token bucket both ways): the same all-reduce series is much
# slower than without the limit, every result is still correct, and the bytes that crossed the
# limited cable never beat the limit.
set -u
source "$(dirname "$0")/lib.sh"
t_init rate
: "${NETLAB_RANK:?}"
LAB_ENV=(LOOM_TIMEOUT=60)
ITERS=12 COUNT=65536   # 256 KiB per all-reduce
lab_up 3 || t_fail "lab up"

series() {  # name -> sets ELAPSED_MS
  local t0; t0=$(lab_now_ms)
  lab_start "$T_DIR/$1" 3 1 80 "$NETLAB_RANK" --iters $ITERS --count $COUNT --seconds 1000
  lab_wait
  ELAPSED_MS=$(( $(lab_now_ms) - t0 ))
  local r
  for r in 0 1 2; do
    [[ ${LAB_RC[r]} == 0 ]] && grep -q "^NETLAB done rank=$r iters=$ITERS result=ok" "$LAB_JOBDIR/rank$r.out" ||
      { t_dump; t_fail "$1: rank $r exited ${LAB_RC[r]}"; }
  done
  lab_check_leaks || t_fail "leaks after $1"
}

sent_bytes() { ip netns exec "$(lab_ns h2)" tc -s qdisc show dev eth0 | awk '/Sent/ {print $2; exit}'; }

series unlimited
base=$ELAPSED_MS
lab_rate h2 10mbit || t_fail "tc"
before=$(sent_bytes)
series limited
slow=$ELAPSED_MS
bytes=$(( $(sent_bytes) - before ))
mbit=$(awk -v b="$bytes" -v ms="$slow" 'BEGIN { printf "%.2f", b * 8 / (ms / 1000) / 1e6 }')
echo "unlimited: $ITERS all-reduces of $((COUNT * 4 / 1024)) KiB in $base ms"
echo "h2 at 10mbit: $slow ms; h2 sent $bytes bytes = $mbit Mbit/s on average (job time incl. start-up)"
((slow >= 3 * base)) || t_fail "limited run not slower ($slow ms vs $base ms)"
awk -v m="$mbit" 'BEGIN { exit !(m <= 10.5) }' || t_fail "h2 sent faster than its 10 Mbit/s limit ($mbit)"
((bytes >= ITERS * COUNT * 4 / 2)) || t_fail "too few bytes through the limited cable ($bytes)"
exit 0
