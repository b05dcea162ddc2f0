# Network test lab: N "hosts" as network namespaces on a Linux bridge, sourced by netlab.sh,
# the tests and the campaign. Nothing here touches the root namespace: the bridge lives in its
# own "switch" namespace (loomlab-<id>-sw), each host (loomlab-<id>-h<i>) gets one veth whose
# host end is renamed eth0 (Loom's default interface choice skips veth*, as a real host has no
# veth), address 10.77.0.<i+1>/24, and ranks run in a private UTS namespace whose host name is
# the namespace's name, so Loom sees distinct hosts (tcp across them, shm within one).
#
# Every lab has an id (NETLAB_ID, default: made up per invocation) so parallel runs never meet.
# lab_cleanup (install with `trap lab_cleanup EXIT`) kills every process this shell started and
# every process still inside the lab's namespaces, then deletes the namespaces. Idempotent.

NETLAB_SKIP=77
NETLAB_SUBNET=10.77.0
: "${NETLAB_ID:=$(printf '%x%04x' $$ $((RANDOM)))}"
export NETLAB_ID
LAB_PIDS=()        # launcher pids (timeout processes), one per rank
LAB_HOST_OF=()     # rank -> host index
LAB_BG=()          # other background helpers started by this shell
LAB_JOBDIR=""
LAB_RANK_PIDS=()   # rank -> pid of the rank program
LAB_KILLED_PIDS=() # pids a test killed on purpose

lab_log() { echo "netlab[$NETLAB_ID]: $*" >&2; }
lab_now_ms() { date +%s%3N; }
lab_ns() { echo "loomlab-${NETLAB_ID}-$1"; }      # lab_ns h0 / lab_ns sw
lab_addr() { echo "${NETLAB_SUBNET}.$(($1 + 1))"; }
lab_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^loomlab-${NETLAB_ID}-(sw|h[0-9]+)$" || true; }
lab_nhosts() { lab_namespaces | grep -c -- '-h[0-9]*$' || true; }

# Exits 77 (ctest's skip code) when the lab cannot be built here, saying why.
lab_require() {
  local why=""
  if [[ $(id -u) != 0 ]]; then why="needs root (network namespaces)"
  elif ! command -v ip >/dev/null || ! command -v tc >/dev/null || ! command -v ss >/dev/null; then
    why="needs iproute2 (ip, tc, ss)"
  elif ! command -v unshare >/dev/null; then why="needs unshare (util-linux)"
  else
    local probe; probe=$(lab_ns probe)
    if ! ip netns add "$probe" 2>/dev/null; then why="'ip netns add' failed (no CAP_SYS_ADMIN?)"
    else
      ip netns exec "$probe" unshare --uts true 2>/dev/null || why="'unshare --uts' failed inside a namespace"
      ip netns del "$probe" 2>/dev/null
    fi
  fi
  if [[ -n $why ]]; then
    echo "SKIP: netlab $why" >&2
    exit $NETLAB_SKIP
  fi
}

# lab_up N [HOST=RATE ...]: the bridge namespace plus N hosts.
lab_up() {
  local n=$1; shift
  local sw; sw=$(lab_ns sw)
  ip netns add "$sw" || return 1
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge || return 1
  ip -n "$sw" link set br0 up
  local i
  for ((i = 0; i < n; i++)); do
    local h; h=$(lab_ns h$i)
    ip netns add "$h" || return 1
    ip -n "$h" link set lo up
    # Both ends are created inside our namespaces: nothing appears in the root namespace.
    ip -n "$sw" link add p$i type veth peer name eth0 netns "$h" || return 1
    ip -n "$sw" link set p$i master br0
    ip -n "$sw" link set p$i up
    ip -n "$h" addr add "$(lab_addr $i)/24" dev eth0
    ip -n "$h" link set eth0 up
  done
  local spec
  for spec in "$@"; do lab_rate "${spec%%=*}" "${spec#*=}" || return 1; done
  # Ready when every cable is up at both ends (the bridge has STP off: ports forward at once).
  for ((i = 0; i < n; i++)); do
    local k
    for ((k = 0; k < 50; k++)); do
      ip -n "$(lab_ns h$i)" -br link show eth0 2>/dev/null | grep -q ' UP ' &&
        ip -n "$sw" -br link show p$i 2>/dev/null | grep -q ' UP ' && break
      sleep 0.05
    done
  done
  return 0
}

# Host argument: "h3" or "3".
lab_host_index() { local h=${1#h}; [[ $h =~ ^[0-9]+$ ]] || { lab_log "bad host '$1'"; return 1; }; echo "$h"; }

# lab_exec HOST cmd...: runs cmd inside the host with the host's own name (private UTS namespace).
lab_exec() {
  lab_exec_prefix "$1" || return 2; shift
  "${LAB_PREFIX[@]}" "$@"
}

# LAB_PREFIX=(the command words that run what follows on HOST). Background jobs use it directly
# (`"${LAB_PREFIX[@]}" prog &`), so that $! is the process that becomes the program through
# exec (ip, unshare, sh, env, timeout) rather than a subshell.
lab_exec_prefix() {
  local i; i=$(lab_host_index "$1") || return 2
  local ns; ns=$(lab_ns h$i)
  LAB_PREFIX=(ip netns exec "$ns" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$ns")
}

# lab_link HOST down|up: the host's switch port (a pulled cable: packets vanish silently).
lab_link() {
  local i; i=$(lab_host_index "$1") || return 2
  ip -n "$(lab_ns sw)" link set p$i "$2"
}

# lab_rate HOST RATE|off: token bucket on both ends of the host's cable (egress of the host and
# egress of its switch port towards it), so both directions are limited.
lab_rate() {
  local i; i=$(lab_host_index "$1") || return 2
  local rate=$2 pair
  for pair in "$(lab_ns h$i) eth0" "$(lab_ns sw) p$i"; do
    set -- $pair
    if [[ $rate == off ]]; then
      ip netns exec "$1" tc qdisc del dev "$2" root 2>/dev/null || true
    else
      ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate "$rate" burst 64kb latency 2s || return 1
    fi
  done
}

# Kills every process inside the lab's namespaces (by pid, as `ip netns pids` lists them).
lab_kill_ns_procs() {
  local ns pid
  for ns in $(lab_namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  done
}

lab_down() {
  lab_kill_ns_procs
  local ns
  for ns in $(lab_namespaces); do ip netns del "$ns" 2>/dev/null; done
  [[ -z $(lab_namespaces) ]]
}

# --- ranks ---------------------------------------------------------------------------------

# The rank program's pid (the child of its timeout process), or nothing once it is gone.
lab_rank_pid() {
  local t=${LAB_PIDS[$1]}
  cat "/proc/$t/task/$t/children" 2>/dev/null | awk '{print $1}'
}

# lab_start JOBDIR HOSTS PER_HOST SECONDS prog args...
# Rank r runs on host r / PER_HOST (rank 0 on h0), bounded by `timeout -k 2 SECONDS`, with
# LAB_LAUNCH (or NETLAB_LAUNCH) = torchrun: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=h0's address,
#   MASTER_PORT: rank 0 hosts the rendezvous root on h0;
# = uid (default): LOOM_RANK, LOOM_WORLD_SIZE, LOOM_LOCAL_RANK, LOOM_UNIQUE_ID from a helper
#   (`$NETLAB_RANK --make-id`) that hosts the root on h0, as loomrun does on one host.
# Extra environment: the array LAB_ENV (K=V items). Output: JOBDIR/rank<r>.out (both streams).
lab_start() {
  local dir=$1 hosts=$2 per=$3 secs=$4; shift 4
  LAB_JOBDIR=$dir
  mkdir -p "$dir"
  local n=$((hosts * per)) r pass=() v launch=()
  # Sanitizer settings travel; LOOM_* and launcher variables of the caller do not.
  for v in $(compgen -e); do [[ $v =~ ^(ASAN|UBSAN|TSAN|LSAN)_OPTIONS$ ]] && pass+=("$v=${!v}"); done
  LAB_PIDS=() LAB_HOST_OF=() LAB_RANK_PIDS=()
  local id=""
  if [[ ${LAB_LAUNCH:-${NETLAB_LAUNCH:-uid}} == uid ]]; then
    [[ -x ${NETLAB_RANK:-} ]] || { lab_log "the uid launch needs NETLAB_RANK (the netlab_rank program)"; return 1; }
    lab_exec_prefix h0
    "${LAB_PREFIX[@]}" env -i PATH="$PATH" "${pass[@]}" "${LAB_ENV[@]}" timeout -k 2 "$secs" "$NETLAB_RANK" --make-id \
      --seconds "$secs" >"$dir/root.out" 2>&1 &
    LAB_ROOT_PID=$!
    LAB_BG+=($!)
    t_wait_for "$dir/root.out" '^id ' 10 || { lab_log "no unique id from the root helper"; cat "$dir/root.out" >&2; }
    id=$(awk '$1 == "id" {print $2; exit}' "$dir/root.out")
  fi
  for ((r = 0; r < n; r++)); do
    local h=$((r / per))
    # LAB_STAGGER_MS: the last rank starts that much later, which holds the others (and their
    # listening sockets) in init for a while.
    ((r == n - 1 && ${LAB_STAGGER_MS:-0} > 0)) && sleep "$(awk -v ms="$LAB_STAGGER_MS" 'BEGIN { print ms / 1000 }')"
    if [[ -n $id ]]; then
      launch=(LOOM_RANK=$r LOOM_WORLD_SIZE=$n LOOM_LOCAL_RANK=$((r % per)) LOOM_UNIQUE_ID=$id)
    else
      launch=(RANK=$r WORLD_SIZE=$n LOCAL_RANK=$((r % per)) LOCAL_WORLD_SIZE=$per MASTER_ADDR="$(lab_addr 0)"
              MASTER_PORT=29500 TORCHELASTIC_RUN_ID="netlab-$NETLAB_ID-$(basename "$dir")")
    fi
    lab_exec_prefix h$h
    "${LAB_PREFIX[@]}" env -i PATH="$PATH" HOME="${HOME:-/root}" "${pass[@]}" "${launch[@]}" "${LAB_ENV[@]}" \
      timeout -k 2 "$secs" "$@" >"$dir/rank$r.out" 2>&1 &
    LAB_PIDS[r]=$!
    LAB_HOST_OF[r]=$h
  done
  lab_collect_rank_pids
}

# lab_wait: waits for every rank; sets LAB_RC[r] and LAB_END_MS[r] (when the rank ended).
# Always returns: each rank is bounded by its timeout.
lab_wait() {
  LAB_RC=() LAB_END_MS=()
  local pid rc r
  local -A idx=()
  local -a left=("${LAB_PIDS[@]}")
  for r in "${!LAB_PIDS[@]}"; do idx[${LAB_PIDS[r]}]=$r; done
  while ((${#left[@]} > 0)); do
    pid=""
    wait -n -p pid "${left[@]}" 2>/dev/null
    rc=$?
    local -a rest=()
    local q
    if [[ -z ${pid:-} ]]; then
      # bash 5.2 never returns from `wait -n` a job it already reaped and reported (a rank the
      # test killed: "Killed" on stderr); it ends with 127 and -p's variable unset. `wait PID`
      # still has the status: collect the gone ones that way, and poll until one is gone (every
      # rank is bounded by its timeout).
      for q in "${left[@]}"; do
        if kill -0 "$q" 2>/dev/null; then
          rest+=("$q")
        else
          wait "$q" 2>/dev/null
          LAB_RC[idx[$q]]=$?
          LAB_END_MS[idx[$q]]=$(lab_now_ms)
        fi
      done
      ((${#rest[@]} == ${#left[@]})) && sleep 0.05
    else
      r=${idx[$pid]}
      LAB_RC[r]=$rc
      LAB_END_MS[r]=$(lab_now_ms)
      for q in "${left[@]}"; do [[ $q != "$pid" ]] && rest+=("$q"); done
    fi
    left=("${rest[@]}")
  done
}

# /dev/shm/loom-* segments created by this job's ranks (named loom-<comm>-<rank>-<pid>) that
# are still there; lab_reap_shm removes them (the launcher's safety net, as loomrun's).
lab_job_shm() {
  local f pid
  for f in /dev/shm/loom-*; do
    [[ -e $f ]] || continue
    pid=${f##*-}
    [[ " ${LAB_RANK_PIDS[*]} " == *" $pid "* ]] && echo "$f"
  done
}

# The rank programs' pids (children of the launchers), for the shm and leak checks.
lab_collect_rank_pids() {
  LAB_RANK_PIDS=()
  local r p k
  for r in "${!LAB_PIDS[@]}"; do
    for ((k = 0; k < 100; k++)); do
      p=$(lab_rank_pid "$r")
      # Until the exec chain (ip, unshare, sh, env, timeout) is done the pid is not timeout's yet.
      [[ -n $p && $(cat /proc/${LAB_PIDS[r]}/comm 2>/dev/null) == timeout ]] && break
      kill -0 "${LAB_PIDS[r]}" 2>/dev/null || break
      sleep 0.02
    done
    [[ -n $p ]] && LAB_RANK_PIDS[r]=$p
  done
}

lab_kill_ranks() {
  local r p
  for r in "${!LAB_PIDS[@]}"; do
    p=$(lab_rank_pid "$r"); [[ -n $p ]] && kill -9 "$p" 2>/dev/null
    kill -9 "${LAB_PIDS[r]}" 2>/dev/null
  done
}

lab_cleanup() {
  local rc=$?
  lab_kill_ranks
  local p; for p in "${LAB_BG[@]}"; do kill -9 "$p" 2>/dev/null; done
  lab_down
  wait 2>/dev/null
  return $rc
}

# Ends the uid launch's root helper (it only sleeps once every rank has joined).
lab_end_root() {
  [[ -n ${LAB_ROOT_PID:-} ]] || return 0
  local c; c=$(cat "/proc/$LAB_ROOT_PID/task/$LAB_ROOT_PID/children" 2>/dev/null)
  # Only the program: its timeout then exits by itself (no "Killed" job notice from bash).
  if [[ -n $c ]]; then kill -9 $c 2>/dev/null; else kill -9 "$LAB_ROOT_PID" 2>/dev/null; fi
  wait "$LAB_ROOT_PID" 2>/dev/null
  LAB_ROOT_PID=""
}

# Leak check after a job: namespaces of this lab, processes of the ranks, shm of the job.
# Prints what leaked and returns 1, or returns 0.
lab_check_leaks() {
  local bad=0 r p
  lab_end_root
  for r in "${!LAB_PIDS[@]}"; do
    if kill -0 "${LAB_PIDS[r]}" 2>/dev/null; then echo "LEAK: rank $r launcher pid ${LAB_PIDS[r]} alive"; bad=1; fi
  done
  for p in "${LAB_RANK_PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then echo "LEAK: rank process $p alive"; bad=1; fi
  done
  local ns k
  for ns in $(lab_namespaces); do
    # A process killed a moment ago may not be reaped yet.
    for ((k = 0; k < 40; k++)); do [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break; sleep 0.025; done
    if [[ -n $(ip netns pids "$ns" 2>/dev/null) ]]; then echo "LEAK: processes in $ns: $(ip netns pids "$ns" | tr '\n' ' ')"; bad=1; fi
  done
  local f pid
  for f in $(lab_job_shm); do
    pid=${f##*-}
    if [[ " ${LAB_KILLED_PIDS[*]} " == *" $pid "* ]]; then
      echo "note: removed $f of killed rank pid $pid (launcher safety net)"
    else
      echo "LEAK: $f"; bad=1
    fi
    rm -f "$f"
  done
  return $bad
}

# --- test harness ----------------------------------------------------------------------------

# t_init NAME: skip unless the lab can be built; output under $NETLAB_OUT/netlab-tests/NAME-<id>;
# cleanup (and a final namespace leak check) on any exit.
t_init() {
  T_NAME=$1
  lab_require
  T_DIR=${NETLAB_OUT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/netlab}/netlab-tests/$T_NAME-$NETLAB_ID
  rm -rf "$T_DIR"; mkdir -p "$T_DIR"
  trap t_exit EXIT
  trap 'exit 130' INT TERM
  T_START_MS=$(lab_now_ms)
  echo "netlab test $T_NAME: lab id $NETLAB_ID, output $T_DIR"
}

t_exit() {
  local rc=$?
  trap - EXIT
  lab_kill_ranks
  local p; for p in "${LAB_BG[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  # Safety net as loomrun's: segments of this job's (now dead) rank pids, e.g. after a failed check.
  local f; for f in $(lab_job_shm); do kill -0 "${f##*-}" 2>/dev/null || rm -f "$f"; done
  lab_down
  if [[ -n $(lab_namespaces) ]]; then echo "LEAK: namespaces left: $(lab_namespaces | tr '\n' ' ')"; rc=1; fi
  if ip netns list 2>/dev/null | grep -q "^loomlab-${NETLAB_ID}-"; then echo "LEAK: lab namespaces left"; rc=1; fi
  echo "netlab test ${T_NAME:-?}: $([[ $rc == 0 ]] && echo PASS || ([[ $rc == 77 ]] && echo SKIP || echo "FAIL (exit $rc)")) in $(( ($(lab_now_ms) - ${T_START_MS:-0}) / 1000 )) s"
  exit "$rc"
}

t_fail() { echo "FAIL: $*"; exit 1; }

# Prints every rank's output (indented) with its exit code.
t_dump() {
  local r
  for r in "${!LAB_PIDS[@]}"; do
    echo "-- rank $r (h${LAB_HOST_OF[r]}) exit ${LAB_RC[r]:-?}"
    sed 's/^/   /' "$LAB_JOBDIR/rank$r.out" | tail -n "${1:-15}"
  done
}

# t_wait_for FILE REGEX SECONDS: until FILE has a line matching REGEX.
t_wait_for() {
  local k
  for ((k = 0; k < $3 * 20; k++)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# The first NETLAB FAIL line of rank r and its fields.
t_fail_line() { grep -m1 '^NETLAB FAIL' "$LAB_JOBDIR/rank$1.out" 2>/dev/null; }
t_field() { sed -nE "s/.*[ ^]$2=([^ ]*).*/\1/p" <<<"$1" | head -1; }
