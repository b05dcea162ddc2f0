#!/usr/bin/env python3
"""Cost-model accuracy: loom bench --explain over 1 KiB..256 MiB for allreduce, allgather,
reducescatter and broadcast, on shm and tcp, 2 and 4 ranks; prints |predicted - measured| /
measured per case and the medians, and writes Markdown and JSON next to this script.
With --selection it instead times the automatic choice against every forced algorithm
(interleaved in one run) and reports auto / best-forced per size.

usage: bench/accuracy/run.py [--build build/release] [--max 256M] [--iters 5] [--out DIR] [--selection]
                             [--transports shm,tcp] [--ranks 2,4]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

COLLS = ["allreduce", "allgather", "reducescatter", "broadcast"]


def run_case(build, transport, n, args, colls=None, algo=None):
    # Small sizes need many iterations to rise above the noise; large ones a few.
    return (run_sweep(build, transport, n, "1K", "1M", 50, 5, colls, algo) +
            run_sweep(build, transport, n, "4M", args.max, args.iters, 1, colls, algo))


def run_sweep(build, transport, n, lo, hi, iters, warmup, colls=None, algo=None):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    os.unlink(path)
    cmd = [f"{build}/tools/loomrun/loomrun", "-n", str(n), f"{build}/tools/loom/loom", "bench", ",".join(colls or COLLS),
           "-b", lo, "-e", hi, "-f", "4", "-n", str(iters), "-w", str(warmup), "-c", "0", "-z", "1", "--explain", "-J", path]
    if algo:
        cmd += ["--algo", algo]
    env = dict(os.environ, LOOM_TRANSPORT=transport)
    print(f"# {transport} {n} ranks: {' '.join(cmd[3:])}", file=sys.stderr, flush=True)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, timeout=1200)
    rows = [r for r in map(json.loads, open(path)) if not r.get("summary")]
    os.unlink(path)
    return rows


# Every single-host candidate of algo::algorithmsFor (hier needs two hosts).
ALGOS = {"allreduce": ["ring", "rhd", "tree", "direct"], "allgather": ["ring", "rhd"],
         "reducescatter": ["ring", "rhd"], "broadcast": ["ring", "tree", "direct"]}


def selection(args):
    """auto vs every forced algorithm; medians of `reps` interleaved repetitions."""
    lines = ["| transport | ranks | collective | size | auto (us) | best forced (us) | best | auto / best |",
             "|---|---|---|---|---|---|---|---|"]
    ratios = []
    for transport, n in [(t, n) for t in args.transports for n in args.ranks]:
        for coll, algos in ALGOS.items():
            times = {}
            for rep in range(args.reps):
                for algo in [None] + algos:
                    for r in run_case(args.build, transport, n, args, [coll], algo):
                        times.setdefault((algo or "auto", r["size"]), []).append(r["oop"]["time_us"])
            for size in sorted({s for (_, s) in times}):
                auto = statistics.median(times[("auto", size)])
                best_algo = min(algos, key=lambda a: statistics.median(times[(a, size)]))
                best = statistics.median(times[(best_algo, size)])
                ratios.append(auto / best)
                lines.append(f"| {transport} | {n} | {coll} | {size} | {auto:.1f} | {best:.1f} | {best_algo} | "
                             f"{auto / best:.2f} |")
    within = sum(1 for r in ratios if r <= 1.10)
    lines.append(f"\nAutomatic choice within 10% of the best forced algorithm in {within} of {len(ratios)} cases; "
                 f"median auto / best {statistics.median(ratios):.2f}.")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "selection.md"), "w") as f:
        f.write("# Automatic selection against forced algorithms (bench/accuracy/run.py --selection)\n\n" + text + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--max", default="256M")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--selection", action="store_true", help="auto against every forced algorithm")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (the median is the measurement)")
    ap.add_argument("--transports", default="shm,tcp", help="comma-separated: shm, tcp")
    ap.add_argument("--ranks", default=None, help="comma-separated rank counts (default 2,4; --selection: 4)")
    args = ap.parse_args()
    args.transports = args.transports.split(",")
    args.ranks = [int(x) for x in (args.ranks or ("4" if args.selection else "2,4")).split(",")]
    if args.selection:
        return selection(args)
    cases, errors = [], []
    for transport in args.transports:
        for n in args.ranks:
            # The machine is shared and noisy: the median of `reps` runs is the measurement.
            runs = [run_case(args.build, transport, n, args) for _ in range(args.reps)]
            for i, r in enumerate(runs[0]):
                meas = statistics.median(run[i]["oop"]["time_us"] for run in runs)
                pred = r.get("predicted_us", -1)
                if meas <= 0 or pred < 0:
                    continue
                err = (pred - meas) / meas
                cases.append({"transport": transport, "nranks": n, "collective": r["collective"], "size": r["size"],
                              "measured_us": meas, "predicted_us": pred, "algo": r.get("predicted_algo"),
                              "error": err})
                errors.append(abs(err))
    lines = ["| transport | ranks | collective | median abs error | worst | cases |", "|---|---|---|---|---|---|"]
    for transport in args.transports:
        for n in args.ranks:
            for c in COLLS:
                e = [abs(x["error"]) for x in cases if (x["transport"], x["nranks"], x["collective"]) == (transport, n, c)]
                if e:
                    lines.append(f"| {transport} | {n} | {c} | {100 * statistics.median(e):.0f}% | "
                                 f"{100 * max(e):.0f}% | {len(e)} |")
    overall = statistics.median(errors) if errors else float("nan")
    lines.append(f"\nOverall median |predicted - measured| / measured: **{100 * overall:.0f}%** over {len(errors)} cases.")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "accuracy.md"), "w") as f:
        f.write("# Cost-model accuracy (bench/accuracy/run.py)\n\n" + text + "\n")
    with open(os.path.join(args.out, "accuracy.json"), "w") as f:
        json.dump({"overall_median_abs_error": overall, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
