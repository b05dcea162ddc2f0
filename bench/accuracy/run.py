#!/usr/bin/env python3
"""Cost-model accuracy and automatic selection, from one race per transport and rank count.

`loom bench --algos auto,ring,rhd,tree,direct,board` times the automatic choice and every forced
algorithm in interleaved rounds of one run (so the machine's drift slows them alike) over
1 KiB..256 MiB for allreduce, allgather, reducescatter and broadcast. From it:
  accuracy.md/json   |predicted - measured| / measured of the automatic choice (the model's time
                     per call in a loop, as the bench times loops), per case and the medians;
  selection.md       auto / best forced algorithm per size, and how far apart auto and the same
                     algorithm forced measure (the same code in the same rounds: the noise floor);
  race.json          every row (each algorithm's median time), for refitting the model offline;
  tuning.json        the calibration the run measured at its start (`loom calibrate`: the median of
                     three taken 10 s apart, with them) and used (LOOM_TUNING_FILE).
Where bench/peers/machine_bench is built (LOOM_BUILD_BENCH), it also measures where the cores are
before each race and after the last (accuracy.json "cores", a line in accuracy.md): see docs/performance.md.

usage: bench/accuracy/run.py [--build build/release] [--max 256M] [--iters 3] [--rounds 3]
                             [--transports shm,tcp] [--ranks 2,4] [--out DIR]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "peers"))
import cores  # noqa: E402  (where the cores are: bench/peers/cores.py)

COLLS = ["allreduce", "allgather", "reducescatter", "broadcast"]
ALGOS = "auto,ring,rhd,tree,direct,board"  # a contender that does not run a collective here sits it out


def race(build, transport, n, lo, hi, iters, warmup, rounds):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    os.unlink(path)
    cmd = [f"{build}/tools/loomrun/loomrun", "-n", str(n), f"{build}/tools/loom/loom", "bench", ",".join(COLLS),
           "-b", lo, "-e", hi, "-f", "4", "-n", str(iters), "-w", str(warmup), "-c", "0", "-z", "1",
           "--algos", ALGOS, "--rounds", str(rounds), "-J", path]
    env = dict(os.environ, LOOM_TRANSPORT=transport)
    env.pop("LOOM_ALGO", None)
    print(f"# {transport} {n} ranks: {' '.join(cmd[3:])}", file=sys.stderr, flush=True)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, timeout=3600)
    rows = [r for r in map(json.loads, open(path)) if r.get("race")]
    os.unlink(path)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--max", default="256M")
    ap.add_argument("--iters", type=int, default=3, help="timed calls per round at 4 MiB and above (200 below)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median is the measurement)")
    ap.add_argument("--transports", default="shm,tcp", help="comma-separated: shm, tcp")
    ap.add_argument("--ranks", default="2,4", help="comma-separated rank counts")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()

    # A fresh calibration (the median of three, 10 s apart so that one slow moment does not set
    # all three), taken before the races while the machine is idle, and kept beside the results: a
    # cached one may date from a busy moment, and replay.py re-scores against this one.
    tuning = os.path.join(args.out, "tuning.json")
    subprocess.run([f"{args.build}/tools/loom/loom", "calibrate", "--times", "3", "--gap", "10", "-o", tuning],
                   check=True, stdout=subprocess.DEVNULL)
    os.environ["LOOM_TUNING_FILE"] = tuning
    rows = []
    machine_bench = f"{args.build}/bench/peers/machine_bench"
    core_ns = []  # before each race, then after the last; None where machine_bench is not built
    for transport in args.transports.split(","):
        for n in [int(x) for x in args.ranks.split(",")]:
            # Small sizes need many calls to rise above the noise; large ones a few.
            for lo, hi, iters, warmup in (("1K", "1M", 200, 20), ("4M", args.max, args.iters, 1)):
                core_ns.append({"before": f"{transport} {n} ranks {lo}-{hi}", "ns": cores.round_trip_ns(machine_bench)})
                rows += race(args.build, transport, n, lo, hi, iters, warmup, args.rounds)
    core_ns.append({"before": "the end", "ns": cores.round_trip_ns(machine_bench)})
    with open(os.path.join(args.out, "race.json"), "w") as f:
        json.dump(rows, f, indent=1)

    key = lambda r: (r["transport"], r["nranks"], r["collective"])
    groups = sorted({key(r) for r in rows}, key=lambda k: (k[0], k[1], COLLS.index(k[2])))
    cases = []
    acc = ["| transport | ranks | collective | median abs error | worst | cases |", "|---|---|---|---|---|---|"]
    sel = ["| transport | ranks | collective | size | auto (us) | auto picks | best forced (us) | best | auto / best "
           "| auto / same forced |", "|---|---|---|---|---|---|---|---|---|---|"]
    ratios, picks, twins = [], [], []
    for g in groups:
        errs = []
        for r in (r for r in rows if key(r) == g):
            if "auto_algo" not in r:  # auto sat the row out (loom bench then names no pick)
                continue
            meas, pred = r["time_us"]["auto"], r.get("auto_predicted_us", -1)
            if meas > 0 and pred >= 0:
                err = (pred - meas) / meas
                errs.append(abs(err))
                cases.append({"transport": g[0], "nranks": g[1], "collective": g[2], "size": r["size"],
                              "measured_us": meas, "predicted_us": pred, "algo": r["auto_algo"], "error": err})
            ratios.append(r["auto_over_best"])
            # Forced, auto's pick runs the very code auto runs (the model's chunk too), in the same
            # rounds: what separates the two is the machine, and no choice gets below it.
            twin = r["time_us"].get(r["auto_algo"], 0)
            if twin > 0:
                twins.append(meas / twin)
                picks.append(twin / r["time_us"][r["best"]])
            sel.append(f"| {g[0]} | {g[1]} | {g[2]} | {r['size']} | {meas:.1f} | {r['auto_algo']} | "
                       f"{r['time_us'][r['best']]:.1f} | {r['best']} | {r['auto_over_best']:.2f} | "
                       f"{meas / twin if twin > 0 else float('nan'):.2f} |")
        if errs:
            acc.append(f"| {g[0]} | {g[1]} | {g[2]} | {100 * statistics.median(errs):.0f}% | {100 * max(errs):.0f}% | "
                       f"{len(errs)} |")
    errors = [abs(c["error"]) for c in cases]
    overall = statistics.median(errors) if errors else float("nan")
    acc.append(f"\nOverall median |predicted - measured| / measured: **{100 * overall:.0f}%** over {len(errors)} cases.")
    where = cores.summary([x["ns"] for x in core_ns], "before each race and after the last")
    if where:
        acc.append(f"\n{where}")
    within = sum(1 for x in ratios if x <= 1.10)
    sel.append(f"\nAutomatic choice within 10% of the best forced algorithm in {within} of {len(ratios)} cases; "
               f"median auto / best {statistics.median(ratios):.2f}, worst {max(ratios):.2f}.")
    if twins:
        sel.append(f"\nThe noise floor: auto and its pick forced (the same code, the same rounds) measured more than "
                   f"10% apart in {sum(abs(x - 1) > 0.10 for x in twins)} of {len(twins)} cases, auto the slower by "
                   f"more than 10% in {sum(x > 1.10 for x in twins)}. Timed forced, the pick was within 10% of the "
                   f"best in {sum(x <= 1.10 for x in picks)} of {len(picks)}.")
    how = (f"Each time is the median of {args.rounds} interleaved rounds of `loom bench --algos {ALGOS}` "
           f"(200 calls per round below 4 MiB, {args.iters} above), blocking calls.\n\n")
    for name, title, lines in [("accuracy.md", "Cost-model accuracy", acc), ("selection.md", "Automatic selection "
                               "against forced algorithms", sel)]:
        text = "\n".join(lines)
        print(text)
        with open(os.path.join(args.out, name), "w") as f:
            f.write(f"# {title} (bench/accuracy/run.py)\n\n{how}{text}\n")
    with open(os.path.join(args.out, "accuracy.json"), "w") as f:
        json.dump({"overall_median_abs_error": overall, "cases": cases, "cores": core_ns,
                   "selection": {"auto_within_10pct": within, "pick_forced_within_10pct": sum(x <= 1.10 for x in picks),
                                 "auto_vs_same_forced_over_10pct": sum(abs(x - 1) > 0.10 for x in twins),
                                 "cases": len(ratios), "twin_cases": len(twins)}}, f, indent=1)


if __name__ == "__main__":
    main()
