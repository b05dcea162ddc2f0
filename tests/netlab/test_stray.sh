#!/usr/bin/env bash
# Strangers during a run: a fourth host keeps finding every listening TCP port on the ranks'
# hosts (ss -ltn inside each namespace) and sends each one garbage, truncated frames, huge
# lengths, an unknown frame type, a wrong-secret hello, HTTP and idle connections, from before
# init until the job ends. Ranks listen while they set up (the rendezvous root and the data
# listeners), so the last rank starts 2 s late to hold that window open; once set up, each rank
# listens only on its diagnostics port (timeout reports), which the stranger keeps attacking
# through the run. The job must finish with every result correct, and once set up no rank may
# listen on more than that one port.
set -u
here=$(dirname "$0")
source "$here/lib.sh"
t_init stray
: "${NETLAB_RANK:?}"
LAB_ENV=(LOOM_TIMEOUT=30)
lab_up 4 || t_fail "lab up"   # h0..h2 ranks, h3 the stranger
STOP=$T_DIR/stop

listening() {  # host index -> "addr:port" per listening socket
  ip netns exec "$(lab_ns h$1)" ss -ltnH 2>/dev/null | awk '{print $4}'
}

attack_loop() {
  local end=$(( $(lab_now_ms) + 60000 )) h addr
  while [[ ! -e $STOP ]] && (( $(lab_now_ms) < end )); do
    local targets=()
    for h in 0 1 2; do
      for addr in $(listening $h); do
        # Loopback listeners cannot be reached from another host; note them and skip.
        [[ $addr == 127.* || $addr == "[::1]"* ]] && { echo "h$h $addr (loopback)" >>"$T_DIR/targets.log"; continue; }
        echo "h$h $addr" >>"$T_DIR/targets.log"
        targets+=("$(lab_addr $h):${addr##*:}")
      done
    done
    if ((${#targets[@]})); then
      lab_exec h3 timeout 5 python3 "$here/stray.py" "${targets[@]}" >>"$T_DIR/stray.log" 2>&1
    else
      sleep 0.02
    fi
  done
}
attack_loop &
ATTACK=$!
sleep 0.2   # the stranger is already looking when the ranks start
LAB_STAGGER_MS=2000 lab_start "$T_DIR/job" 3 1 60 "$NETLAB_RANK" --seconds 4 --count 2048
for r in 0 1 2; do t_wait_for "$LAB_JOBDIR/rank$r.out" '^NETLAB progress' 30; done
sleep 1
after=$(for h in 0 1 2; do listening $h; done | tr '\n' ' ')
most=0  # listening sockets on the busiest host once set up (one rank per host)
for h in 0 1 2; do n=$(listening $h | grep -c . || true); ((n > most)) && most=$n; done
lab_wait
touch "$STOP"; wait $ATTACK
for r in 0 1 2; do
  [[ ${LAB_RC[r]} == 0 ]] && grep -q "^NETLAB done rank=$r .*result=ok" "$LAB_JOBDIR/rank$r.out" ||
    { t_dump; tail -5 "$T_DIR/stray.log"; t_fail "rank $r exited ${LAB_RC[r]} under stray traffic"; }
done
lab_check_leaks || t_fail leaks
ports=$(sort -u "$T_DIR/targets.log" 2>/dev/null | tr '\n' ',' | sed 's/,$//; s/,/, /g')
conns=$(awk '{s += $3} END {print s + 0}' <(grep '^stray connections' "$T_DIR/stray.log" 2>/dev/null))
echo "listening sockets seen during set-up: ${ports:-none}"
echo "stray connections accepted: $conns; job: $(grep -ho 'iters=[0-9]*' "$LAB_JOBDIR/rank0.out" | tail -1) checked all-reduces per rank"
echo "listening after set-up: ${after:-none}"
echo "warning lines logged by the ranks: $(cat "$LAB_JOBDIR"/rank*.out | grep -ci warn)"
[[ -n $ports ]] || t_fail "found no listening port to attack"
((conns > 0)) || t_fail "no stray connection was accepted"
((most <= 1)) || t_fail "a rank listens on more than its diagnostics port after set-up: $after"
exit 0
