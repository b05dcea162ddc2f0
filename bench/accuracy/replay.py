#!/usr/bin/env python3
"""Re-scores the cost model against a recorded race (race.json from run.py) without running a
benchmark: for every row it asks `loom explain --json` (this build's model, a given tuning file)
what each algorithm takes per call in a loop and which one it would choose, then reports
  accuracy   |predicted - measured| / measured of the chosen algorithm (its forced time),
  selection  measured time of the chosen algorithm / the best measured one.
Use it to try a model change or tuning constants against one measurement, then confirm with run.py.

usage: bench/accuracy/replay.py [--build build/release] [--tuning bench/accuracy/tuning.json]
                                [--race bench/accuracy/race.json] [-v]
"""
import argparse, json, os, statistics, subprocess
from concurrent.futures import ThreadPoolExecutor


def explain(build, tuning, transport, coll, size, n):
    cmd = [f"{build}/tools/loom/loom", "explain", coll, str(size), "-n", str(n), "--json"]
    if tuning and os.path.exists(tuning):
        cmd += ["--tuning", tuning]
    elif tuning:
        raise SystemExit(f"replay.py: no tuning file {tuning} (run bench/accuracy/run.py, or pass --tuning '')")
    env = dict(os.environ, LOOM_TRANSPORT=transport)
    env.pop("LOOM_ALGO", None)
    return json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--tuning", default=os.path.join(here, "tuning.json"),
                    help="tuning file (default: the one run.py measured; '' for this host's cached calibration)")
    ap.add_argument("--race", default=os.path.join(here, "race.json"))
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per row")
    args = ap.parse_args()
    rows = json.load(open(args.race))
    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda r: explain(args.build, args.tuning, r["transport"], r["collective"], r["size"],
                                                 r["nranks"]), rows))
    errors, ratios = {}, []
    for r, m in zip(rows, models):
        times = {k: v for k, v in r["time_us"].items() if k != "auto"}
        cand = next(c for c in m["candidates"] if c["chosen"])
        chosen = cand["algo"]
        # A forced pipelined algorithm runs the model's chunk for it, as auto does.
        meas = times.get(chosen)
        if meas is None:
            continue
        err = (cand["predicted_loop_us"] - meas) / meas
        ratio = meas / min(times.values())
        errors.setdefault((r["transport"], r["nranks"], r["collective"]), []).append(abs(err))
        ratios.append(ratio)
        if args.verbose:
            preds = {c["algo"]: round(c["predicted_loop_us"], 1) for c in m["candidates"]}
            print(f"{r['transport']} {r['nranks']} {r['collective']:13} {r['size']:>10} chose {chosen:6} "
                  f"err {100 * err:+5.0f}%  ratio {ratio:.2f}  measured {({k: round(v, 1) for k, v in times.items()})} "
                  f"predicted {preds}")
    allerr = [e for v in errors.values() for e in v]
    for k, v in errors.items():
        print(f"{k[0]} {k[1]} {k[2]:13} median error {100 * statistics.median(v):3.0f}%  worst {100 * max(v):4.0f}%")
    # The race's noise floor: auto against its own pick forced, the same code in the same rounds.
    twins = [r["time_us"]["auto"] / r["time_us"][r["auto_algo"]] for r in rows
             if r.get("auto_algo") in r["time_us"] and r["time_us"][r["auto_algo"]] > 0 and r["time_us"].get("auto", 0) > 0]
    if twins:
        print(f"noise floor: in the race auto and its pick forced measured more than 10% apart in "
              f"{sum(abs(x - 1) > 0.10 for x in twins)} of {len(twins)} rows")
    print(f"overall median error {100 * statistics.median(allerr):.0f}% over {len(allerr)} rows; "
          f"chosen within 10% of the best in {sum(x <= 1.10 for x in ratios)} of {len(ratios)}, "
          f"median ratio {statistics.median(ratios):.2f}, worst {max(ratios):.2f}")


if __name__ == "__main__":
    main()
