#!/usr/bin/env bash
# A host's cable pulled (its switch port down) during an all-reduce loop: no rank hangs; every
# rank, the cut-off one included, fails within LOOM_TIMEOUT plus a margin, and at least one
# survivor's message names the unreachable rank.
set -u
source "$(dirname "$0")/lib.sh"
t_init linkdown
: "${NETLAB_RANK:?}"
TIMEOUT_S=5 VICTIM=3 N=4
BOUND_MS=$((TIMEOUT_S * 1000 + 3000))
LAB_ENV=(LOOM_TIMEOUT=$TIMEOUT_S)
lab_up $N || t_fail "lab up"
lab_start "$T_DIR/job" $N 1 40 "$NETLAB_RANK" --seconds 30 --count 8192
for ((r = 0; r < N; r++)); do
  t_wait_for "$LAB_JOBDIR/rank$r.out" '^NETLAB progress' 20 || { t_dump; t_fail "rank $r never got going"; }
done
t_cut=$(lab_now_ms)
lab_link h$VICTIM down || t_fail "link down"
lab_wait
named=0
for ((r = 0; r < N; r++)); do
  rc=${LAB_RC[r]} end_ms=$(( LAB_END_MS[r] - t_cut ))
  line=$(t_fail_line $r)
  det=$(( $(t_field "$line" wall_ms) - t_cut ))
  echo "rank $r: exit $rc after $end_ms ms; failed after $det ms: $(t_field "$line" code): ${line#*msg=}"
  [[ -n $line ]] || { t_dump; t_fail "rank $r reported no failure"; }
  [[ $rc != 0 && $rc != 1 && $rc != 124 && $rc != 137 ]] || { t_dump; t_fail "rank $r: exit $rc"; }
  ((end_ms <= BOUND_MS)) || { t_dump; t_fail "rank $r took $end_ms ms (bound $BOUND_MS)"; }
  ((r != VICTIM)) && grep -q "rank $VICTIM\b" <<<"${line#*msg=}" && named=$((named + 1))
done
((named > 0)) || { t_dump; t_fail "no survivor names the cut-off rank $VICTIM"; }
lab_link h$VICTIM up
lab_check_leaks || t_fail leaks
exit 0
