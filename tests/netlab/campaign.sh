#!/usr/bin/env bash
# Randomised fault campaign in the network lab.
#
#   campaign.sh [--trials N] [--seed S] [--bin PATH/netlab_rank]
#
# Each trial draws a layout (4x1, 3x1 or 2x2 hosts x ranks), a fault kind (kill9, sigstop,
# linkdown, rate, none), a victim rank (or host), a fault time and an all-reduce size, runs
# netlab_rank (which checks every result element-wise) and checks:
#   - no hang: every rank ends by itself, within fault time + LOOM_INIT_TIMEOUT + LOOM_TIMEOUT
#     + a margin (a rank killed by its `timeout` bound is a hang);
#   - no wrong result: no rank ever prints WRONG, and a rank that exits 0 printed result=ok;
#   - rate and none: every rank succeeds; kill9, sigstop, linkdown: every survivor ends with an
#     error or (loomCommShrink) recovers and finishes further correct all-reduces;
#   - no leaked processes, /dev/shm segments or namespaces.
# The seed is printed; the same seed replays the same draws. Summary: $NETLAB_OUT/campaign-<seed>.json
# (NETLAB_OUT defaults to build/netlab). Exit 0 only when every trial passes; 77 when the lab
# cannot be built here.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
TRIALS=${NETLAB_TRIALS:-10}
SEED=${NETLAB_SEED:-$(( $(date +%s%N) % 1000000 ))}
BIN=${NETLAB_RANK:-$here/../../build/release/tests/netlab/netlab_rank}
while (($#)); do
  case $1 in
    --trials) TRIALS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    *) echo "usage: campaign.sh [--trials N] [--seed S] [--bin netlab_rank]" >&2; exit 2 ;;
  esac
done
[[ -x $BIN ]] || { echo "campaign: no netlab_rank at $BIN (build target netlab_rank or pass --bin)" >&2; exit 2; }
export NETLAB_RANK=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")  # what the launches run (lib.sh)
NETLAB_OUT=${NETLAB_OUT:-$here/../../build/netlab}
mkdir -p "$NETLAB_OUT"
NETLAB_OUT=$(cd "$NETLAB_OUT" && pwd)
t_init campaign-$SEED
echo "campaign: seed $SEED, $TRIALS trials (replay: campaign.sh --seed $SEED --trials $TRIALS)"
RANDOM=$SEED

TIMEOUT_S=3 INIT_TIMEOUT_S=5 JOB_S=4 HARD_S=30 MARGIN_MS=3000
LAB_ENV=(LOOM_TIMEOUT=$TIMEOUT_S LOOM_INIT_TIMEOUT=$INIT_TIMEOUT_S)
lab_up 4 || t_fail "lab up"
RESULTS=$T_DIR/trials.tsv
printf 'trial\tkind\tlayout\tvictim\tfault_ms\tcount\tverdict\tdetect_ms\tcodes\tnote\n' >"$RESULTS"
failed=0
layouts=("4 1" "3 1" "2 2")
kinds=(kill9 sigstop linkdown rate none)
counts=(1 1000 8192 65536)
rates=(5mbit 10mbit 20mbit)

for ((t = 1; t <= TRIALS; t++)); do
  read -r hosts per <<<"${layouts[RANDOM % 3]}"
  n=$((hosts * per))
  kind=${kinds[RANDOM % 5]}
  victim=$((RANDOM % n))
  vhost=$((victim / per))
  fault_ms=$((200 + RANDOM % 2300))   # after the ranks were started: init included
  count=${counts[RANDOM % 4]}
  rate=${rates[RANDOM % 3]}
  LAB_KILLED_PIDS=()
  t0=$(lab_now_ms)
  # Ranks the fault takes out: the victim, or every rank on a cut-off host.
  victims=" $victim "
  [[ $kind == linkdown ]] && { victims=" "; for ((r = vhost * per; r < (vhost + 1) * per; r++)); do victims+="$r "; done; }
  vlist=$(echo $victims | tr ' ' ',')
  vflag=(); [[ $kind == kill9 || $kind == linkdown ]] && vflag=(--victim "$vlist")
  lab_start "$T_DIR/t$t" "$hosts" "$per" "$HARD_S" "$BIN" --seconds "$JOB_S" --count "$count" "${vflag[@]}"
  sleep "$(awk -v ms="$(( fault_ms - ($(lab_now_ms) - t0) ))" 'BEGIN { print (ms > 0 ? ms / 1000 : 0) }')"
  t_fault=$(lab_now_ms)
  vpid=${LAB_RANK_PIDS[victim]:-}
  note=""
  [[ -n $vpid ]] && kill -0 "$vpid" 2>/dev/null || note="victim already gone at fault time"
  case $kind in
    kill9) kill -9 "$vpid" 2>/dev/null; LAB_KILLED_PIDS+=("$vpid") ;;
    sigstop) kill -STOP "$vpid" 2>/dev/null ;;
    linkdown) lab_link h$vhost down ;;
    rate) lab_rate h$vhost "$rate"; note="h$vhost at $rate" ;;
  esac
  # Wait for everyone but a stopped victim; resume it once the others are gone.
  LAB_RC=() LAB_END_MS=()
  for ((r = 0; r < n; r++)); do
    [[ $kind == sigstop && $r == "$victim" ]] && continue
    wait "${LAB_PIDS[r]}" 2>/dev/null; LAB_RC[r]=$?; LAB_END_MS[r]=$(lab_now_ms)
  done
  if [[ $kind == sigstop ]]; then
    t_cont=$(lab_now_ms)
    kill -CONT "$vpid" 2>/dev/null
    wait "${LAB_PIDS[victim]}" 2>/dev/null; LAB_RC[victim]=$?; LAB_END_MS[victim]=$(lab_now_ms)
  fi
  [[ $kind == linkdown ]] && lab_link h$vhost up
  [[ $kind == rate ]] && lab_rate h$vhost off

  verdict=ok why=() detect=() codes=()
  for ((r = 0; r < n; r++)); do
    out=$LAB_JOBDIR/rank$r.out rc=${LAB_RC[r]}
    line=$(grep -m1 '^NETLAB FAIL' "$out")
    code=$(t_field "$line" code)
    codes+=("$r:$rc${code:+/$code}")
    grep -q '^NETLAB WRONG' "$out" && why+=("rank $r: WRONG data")
    [[ $rc == 0 ]] && ! grep -q 'result=ok' "$out" && why+=("rank $r: exit 0 without result=ok")
    is_victim=0; [[ $victims == *" $r "* && $kind != rate && $kind != none ]] && is_victim=1
    # The victim's own end: killed (137 from its timeout wrapper), or after resuming / reconnecting.
    if [[ $kind == kill9 && $is_victim == 1 ]]; then continue; fi
    if [[ $rc == 124 || $rc == 137 ]]; then why+=("rank $r: HANG (killed by its ${HARD_S}s bound)"); continue; fi
    start=$t_fault; [[ $kind == sigstop && $is_victim == 1 ]] && start=$t_cont
    limit=$((start + (INIT_TIMEOUT_S + TIMEOUT_S) * 1000 + MARGIN_MS))
    [[ $kind == rate || $kind == none ]] && limit=$((t0 + (JOB_S + INIT_TIMEOUT_S) * 1000 + MARGIN_MS + 4000))
    ((LAB_END_MS[r] <= limit)) || why+=("rank $r: LATE (ended $(( LAB_END_MS[r] - start )) ms after the fault)")
    case $kind in
      rate | none) [[ $rc == 0 ]] || why+=("rank $r: failed without a fault (exit $rc ${line#*msg=})") ;;
      *)
        if ((is_victim == 0)) && [[ -n $line ]]; then
          w=$(t_field "$line" wall_ms); [[ -n $w ]] && detect+=($((w - t_fault)))
        fi
        if [[ $rc == 0 && -z $note ]] && ((is_victim == 0)) && ! grep -q after_shrink "$out"; then
          # Possible when the fault came after the last all-reduce: rank 0 had already said stop.
          grep -q '^NETLAB done' "$out" && note="${note:+$note; }rank $r finished before the fault bit"
        fi ;;
    esac
  done
  lab_end_root   # here, not in the $(...) subshell below, which cannot reap it
  leaks=$(lab_check_leaks) || why+=("leak: $(tr '\n' ' ' <<<"$leaks")")
  [[ -n $leaks ]] && grep -q '^note' <<<"$leaks" && note="${note:+$note; }$(grep '^note' <<<"$leaks" | head -1)"
  ((${#why[@]})) && { verdict=FAIL; failed=$((failed + 1)); }
  det=$(IFS=,; echo "${detect[*]}")
  printf '%d\t%s\t%dx%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n' "$t" "$kind" "$hosts" "$per" "$vlist" "$fault_ms" "$count" \
    "$verdict" "$det" "${codes[*]}" "$note${why:+ ${why[*]}}" >>"$RESULTS"
  printf 'trial %3d: %-8s %dx%d victim %s at %4d ms, count %5d: %s  detect [%s] ms  exits %s%s\n' "$t" "$kind" \
    "$hosts" "$per" "$vlist" "$fault_ms" "$count" "$verdict" "$det" "${codes[*]}" "${note:+  ($note)}"
  for w in "${why[@]}"; do echo "    $w"; done
  [[ $verdict == FAIL ]] && t_dump 6
done

JSON=$NETLAB_OUT/campaign-$SEED.json
python3 - "$RESULTS" "$JSON" "$SEED" <<'EOF'
import csv, json, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def stats(v):
    if not v: return None
    v = sorted(v)
    return {"n": len(v), "min": v[0], "median": statistics.median(v), "p90": v[int(0.9 * (len(v) - 1))], "max": v[-1]}
kinds = {}
for r in rows:
    k = kinds.setdefault(r["kind"], {"trials": 0, "failed": 0, "detect_ms": [], "survivor_errors": {}})
    k["trials"] += 1
    k["failed"] += r["verdict"] != "ok"
    k["detect_ms"] += [int(x) for x in r["detect_ms"].split(",") if x]
    for c in r["codes"].split():
        rank, _, rest = c.partition(":")
        if rank in r["victim"].split(",") and r["kind"] in ("kill9", "sigstop", "linkdown"): continue
        name = rest.split("/")[1] if "/" in rest else ("success" if rest == "0" else "exit " + rest)
        if "/" in rest and rest.startswith("0/"): name += " then shrink ok"
        k["survivor_errors"][name] = k["survivor_errors"].get(name, 0) + 1
for k in kinds.values(): k["detect_ms"] = stats(k["detect_ms"])
text = " ".join(r["note"] for r in rows)
summary = {"seed": int(sys.argv[3]), "trials": len(rows), "failed": sum(r["verdict"] != "ok" for r in rows),
           "hangs": text.count("HANG"), "late": text.count("LATE"), "wrong_results": text.count("WRONG"),
           "leaks": text.count("leak:"), "by_kind": kinds, "trials_detail": rows}
json.dump(summary, open(sys.argv[2], "w"), indent=1)
print(f"campaign seed {summary['seed']}: {summary['trials']} trials, {summary['failed']} failed, "
      f"{summary['hangs']} hangs, {summary['wrong_results']} wrong, {summary['leaks']} leaks")
for name, k in sorted(kinds.items()):
    print(f"  {name:9s} {k['trials']:3d} trials, {k['failed']} failed, detection ms {k['detect_ms']}, survivors {k['survivor_errors']}")
EOF
echo "summary: $JSON"
((failed == 0)) || t_fail "$failed of $TRIALS trials failed (seed $SEED)"
exit 0
