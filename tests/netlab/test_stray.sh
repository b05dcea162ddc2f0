#!/usr/bin/env bash
# Strangers during a run: a fourth host keeps finding every listening TCP port of the ranks'
# hosts (ss -ltn inside each namespace) and sends them garbage, truncated frames, huge lengths,
# wrong-secret hellos and idle connections, from before init until the job ends. The job must
# finish with every result correct.
set -u
here=$(dirname "$0")
source "$here/lib.sh"
t_init stray
: "${NETLAB_RANK:?}"
LAB_ENV=(LOOM_TIMEOUT=30)
lab_up 4 || t_fail "lab up"   # h0..h2 ranks, h3 the stranger

attack_loop() {
  local end=$(( $(lab_now_ms) + 60000 )) h
  while (( $(lab_now_ms) < end )); do
    local targets=()
    for h in 0 1 2; do
      # Ports listening on the host's address or on any address (not loopback: unreachable).
      while read -r addr; do
        local port=${addr##*:} ip=${addr%:*}
        [[ $ip == 127.* || $ip == "[::1]" ]] && continue
        targets+=("$(lab_addr $h):$port")
      done < <(ip netns exec "$(lab_ns h$h)" ss -ltnH 2>/dev/null | awk '{print $4}')
    done
    if ((${#targets[@]})); then
      printf '%s\n' "${targets[@]}" >>"$T_DIR/targets.log"
      lab_exec h3 python3 "$here/stray.py" "${targets[@]}" >>"$T_DIR/stray.log" 2>&1
    else
      sleep 0.05
    fi
  done
}
attack_loop &
LAB_BG+=($!)
sleep 0.3   # the stranger is already knocking when the ranks start
lab_start "$T_DIR/job" 3 1 60 "$NETLAB_RANK" --seconds 5 --count 2048
lab_wait
kill -9 "${LAB_BG[@]}" 2>/dev/null; wait "${LAB_BG[@]}" 2>/dev/null
for r in 0 1 2; do
  [[ ${LAB_RC[r]} == 0 ]] && grep -q "^NETLAB done rank=$r .*result=ok" "$LAB_JOBDIR/rank$r.out" ||
    { t_dump; tail -5 "$T_DIR/stray.log"; t_fail "rank $r exited ${LAB_RC[r]} under stray traffic"; }
done
lab_check_leaks || t_fail leaks
ports=$(sort -u "$T_DIR/targets.log" 2>/dev/null | tr '\n' ' ')
conns=$(awk '{s += $2} END {print s + 0}' <(grep '^stray connections' "$T_DIR/stray.log"))
[[ -n $ports ]] || t_fail "found no listening port to attack"
((conns > 0)) || t_fail "no stray connection was accepted"
echo "attacked ports: $ports"
echo "stray connections made: $conns; job iterations: $(grep -ho 'iters=[0-9]*' "$LAB_JOBDIR/rank0.out" | tail -1)"
echo "warning lines logged by the ranks: $(cat "$LAB_JOBDIR"/rank*.out | grep -ci warn)"
exit 0
