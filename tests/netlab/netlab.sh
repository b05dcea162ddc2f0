#!/usr/bin/env bash
# Network test lab: hosts as network namespaces on a bridge (see lib.sh).
#
#   NETLAB_ID=x netlab.sh up N [--rate HOST=10mbit ...]   build hosts loomlab-x-h0..h{N-1}
#   NETLAB_ID=x netlab.sh down                           remove everything of lab x (idempotent)
#   NETLAB_ID=x netlab.sh exec HOST cmd...               run cmd on host (h0 or 0)
#   NETLAB_ID=x netlab.sh link HOST down|up              pull / plug the host's cable
#   NETLAB_ID=x netlab.sh rate HOST RATE|off             token-bucket limit both directions
#   NETLAB_ID=x netlab.sh addr HOST                      the host's address
#   NETLAB_ID=x netlab.sh run HOSTS PER_HOST SECONDS prog args...
#                                                        one job: rank r on host r/PER_HOST with
#                                                        torchrun variables; prints each rank's
#                                                        exit code and output; exits non-zero
#                                                        if any rank did
#   netlab.sh list                                       every lab's namespaces
# Without NETLAB_ID, `up` makes one up and prints `NETLAB_ID=...` for later commands.
# Exit code 77: the lab cannot be built here (not root, no iproute2, no namespaces).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
id_given=${NETLAB_ID:-}
source "$here/lib.sh"

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
cmd=${1:-}; shift || true
case $cmd in
  up)
    n=${1:-}; shift || true
    [[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le 250 ]] || usage
    rates=()
    while (($#)); do
      case $1 in
        --rate) rates+=("$2"); shift 2 ;;
        --rate=*) rates+=("${1#--rate=}"); shift ;;
        *) usage ;;
      esac
    done
    lab_require
    if [[ -n $(lab_namespaces) ]]; then echo "lab $NETLAB_ID already exists" >&2; exit 1; fi
    if ! lab_up "$n" "${rates[@]}"; then lab_down; echo "netlab up failed" >&2; exit 1; fi
    [[ -z $id_given ]] && echo "NETLAB_ID=$NETLAB_ID"
    for ((i = 0; i < n; i++)); do echo "$(lab_ns h$i) $(lab_addr $i)"; done
    ;;
  down)
    [[ -n $id_given ]] || { echo "set NETLAB_ID" >&2; exit 2; }
    lab_down ;;
  exec)
    [[ -n $id_given && $# -ge 2 ]] || usage
    lab_exec "$@" ;;
  link)
    [[ -n $id_given && $# -eq 2 && ($2 == up || $2 == down) ]] || usage
    lab_link "$1" "$2" ;;
  rate)
    [[ -n $id_given && $# -eq 2 ]] || usage
    lab_rate "$1" "$2" ;;
  addr)
    [[ $# -eq 1 ]] || usage
    lab_addr "$(lab_host_index "$1")" ;;
  run)
    [[ -n $id_given && $# -ge 4 ]] || usage
    hosts=$1 per=$2 secs=$3; shift 3
    dir=$(mktemp -d /tmp/loomlab-$NETLAB_ID-run.XXXXXX)
    trap 'lab_kill_ranks; rm -rf "$dir"' EXIT
    LAB_ENV=()
    for v in $(compgen -e); do [[ $v == LOOM_* ]] && LAB_ENV+=("$v=${!v}"); done
    lab_start "$dir" "$hosts" "$per" "$secs" "$@"
    lab_wait
    bad=0
    for r in "${!LAB_PIDS[@]}"; do
      echo "== rank $r (host h${LAB_HOST_OF[r]}) exit ${LAB_RC[r]:-?}"
      sed 's/^/  /' "$dir/rank$r.out"
      [[ ${LAB_RC[r]:-1} == 0 ]] || bad=1
    done
    lab_check_leaks || bad=1
    exit $bad ;;
  list) ip netns list | awk '{print $1}' | grep '^loomlab-' || true ;;
  *) usage ;;
esac
