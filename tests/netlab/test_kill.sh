#!/usr/bin/env bash
# kill -9 one rank during an all-reduce loop: every survivor must end within the bound, with an
# error (today: loomRemoteError from the reset connection, or loomTimeout for a rank that only
# waits on the dead one through shared memory) or, where the library has loomCommShrink, with
# further correct all-reduces over the survivors. Prints each survivor's error and detection time.
#   NETLAB_STRICT=1: the issue's bar: every survivor detects within LOOM_FAILURE_DETECT (5 s) with
#   loomRemoteError naming the victim, shrinks, and finishes further correct all-reduces.
set -u
source "$(dirname "$0")/lib.sh"
t_init kill
: "${NETLAB_RANK:?}"
STRICT=${NETLAB_STRICT:-0}
TIMEOUT_S=10
LAB_ENV=(LOOM_TIMEOUT=$TIMEOUT_S)
if ((STRICT)); then BOUND_MS=6000; else BOUND_MS=$((TIMEOUT_S * 1000 + 3000)); fi
lab_up 4 || t_fail "lab up"
DETECT=()

run_case() {  # hosts per_host victim
  local hosts=$1 per=$2 victim=$3 n=$(($1 * $2)) r
  echo "== $hosts hosts x $per ranks, kill -9 rank $victim (host h$((victim / per)))"
  lab_start "$T_DIR/kill-${hosts}x$per" "$hosts" "$per" 60 "$NETLAB_RANK" --seconds 40 --count 8192 --victim "$victim"
  for ((r = 0; r < n; r++)); do
    t_wait_for "$LAB_JOBDIR/rank$r.out" '^NETLAB progress' 20 || { t_dump; t_fail "rank $r never got going"; }
  done
  local pid=${LAB_RANK_PIDS[victim]}
  local t_kill; t_kill=$(lab_now_ms)
  kill -9 "$pid" || t_fail "kill $pid"
  LAB_KILLED_PIDS+=("$pid")
  lab_wait
  for ((r = 0; r < n; r++)); do
    ((r == victim)) && continue
    local rc=${LAB_RC[r]} line end_ms=$(( LAB_END_MS[r] - t_kill )) det
    line=$(t_fail_line $r)
    det=$(( $(t_field "$line" wall_ms) - t_kill ))
    echo "   rank $r: exit $rc after $end_ms ms; detected in $det ms: $(t_field "$line" code): ${line#*msg=}"
    grep -h '^NETLAB shrink\|after_shrink' "$LAB_JOBDIR/rank$r.out" | sed 's/^/      /'
    DETECT+=("$det")
    [[ -n $line ]] || { t_dump; t_fail "rank $r reported no failure"; }
    case $rc in
      0) grep -q 'after_shrink=.*result=ok' "$LAB_JOBDIR/rank$r.out" || t_fail "rank $r exited 0 without recovering" ;;
      1) t_dump; t_fail "rank $r saw WRONG data" ;;
      124 | 137) t_dump; t_fail "rank $r hung (killed by its timeout)" ;;
    esac
    ((end_ms <= BOUND_MS)) || { t_dump; t_fail "rank $r took $end_ms ms (bound $BOUND_MS)"; }
    if ((STRICT)); then
      [[ $rc == 0 ]] || t_fail "rank $r did not shrink and continue (exit $rc)"
      [[ $(t_field "$line" code) == loomRemoteError ]] || t_fail "rank $r: expected loomRemoteError"
      grep -q "rank $victim" <<<"${line#*msg=}" || t_fail "rank $r: message does not name rank $victim"
    fi
  done
  lab_check_leaks || t_fail "leaks"
}

run_case 4 1 2
run_case 2 2 1   # the victim shares h0 with rank 0 (shm) and reaches h1 over tcp
echo "detection times (ms): ${DETECT[*]}"
exit 0
