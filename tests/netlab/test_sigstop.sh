#!/usr/bin/env bash
# SIGSTOP one rank during an all-reduce loop with LOOM_TIMEOUT=5: the others end within 5 s plus
# a margin, with loomTimeout ("waiting on: recv from rank N") or loomRemoteError (the failure
# detector: "nothing received for 5 s, heartbeats included"), and the diagnosis names the stopped
# rank: at least one survivor's (NETLAB_STRICT=1: every survivor's, as the gathered report of
# the issue would). Then SIGCONT: the resumed rank must end too, not hang.
set -u
source "$(dirname "$0")/lib.sh"
t_init sigstop
: "${NETLAB_RANK:?}"
STRICT=${NETLAB_STRICT:-0}
TIMEOUT_S=5 VICTIM=1 N=4
BOUND_MS=$((TIMEOUT_S * 1000 + 3000))
LAB_ENV=(LOOM_TIMEOUT=$TIMEOUT_S)
lab_up $N || t_fail "lab up"
lab_start "$T_DIR/job" $N 1 40 "$NETLAB_RANK" --seconds 30 --count 8192
for ((r = 0; r < N; r++)); do
  t_wait_for "$LAB_JOBDIR/rank$r.out" '^NETLAB progress' 20 || { t_dump; t_fail "rank $r never got going"; }
done
pid=${LAB_RANK_PIDS[VICTIM]}
t_stop=$(lab_now_ms)
kill -STOP "$pid" || t_fail "SIGSTOP"
# Survivors first; the stopped rank is resumed once they are all gone.
named=0
for ((r = 0; r < N; r++)); do
  ((r == VICTIM)) && continue
  wait "${LAB_PIDS[r]}" 2>/dev/null; rc=$?
  end_ms=$(( $(lab_now_ms) - t_stop ))
  LAB_RC[r]=$rc
  line=$(t_fail_line $r)
  det=$(( $(t_field "$line" wall_ms) - t_stop ))
  echo "rank $r: exit $rc after ~$end_ms ms; failed after $det ms: $(t_field "$line" code): ${line#*msg=}"
  [[ ($rc == 5 && $(t_field "$line" code) == loomTimeout) || ($rc == 4 && $(t_field "$line" code) == loomRemoteError) ]] ||
    { t_dump; t_fail "rank $r: expected loomTimeout or loomRemoteError (exit 5 or 4), got exit $rc"; }
  ((end_ms <= BOUND_MS)) || t_fail "rank $r took $end_ms ms (bound $BOUND_MS)"
  if grep -q "rank $VICTIM\b" <<<"${line#*msg=}"; then named=$((named + 1))
  elif ((STRICT)); then t_fail "rank $r's diagnosis does not name rank $VICTIM"; fi
done
((named > 0)) || t_fail "no survivor's diagnosis names the stopped rank $VICTIM"
echo "$named of $((N - 1)) survivors name rank $VICTIM"
t_cont=$(lab_now_ms)
kill -CONT "$pid"
wait "${LAB_PIDS[VICTIM]}" 2>/dev/null; rc=$?
LAB_RC[VICTIM]=$rc
echo "resumed rank $VICTIM: exit $rc after $(( $(lab_now_ms) - t_cont )) ms: $(t_fail_line $VICTIM | sed 's/.*code=\([^ ]*\).*msg=/\1: /')"
[[ $rc != 0 && $rc != 1 && $rc != 124 && $rc != 137 ]] || { t_dump; t_fail "resumed rank: exit $rc"; }
(( $(lab_now_ms) - t_cont <= BOUND_MS )) || t_fail "resumed rank took too long"
lab_check_leaks || t_fail leaks
exit 0
