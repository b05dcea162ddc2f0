"""Results, Markdown, plots, targets and baseline checks for bench/compare (stdlib only).

Ratios are always loom/peer busbw from medians; a peer is compared in the mode both libraries
have (out-of-place when both do, else in-place: MPI_Bcast and Gloo's halving-doubling
allreduce/reduce-scatter are in-place only, Gloo's alltoall out-of-place only).
"""
import json
import os
import shutil
import statistics
import subprocess

import cores  # where the cores are: bench/peers/cores.py

PEERS = ["mpi", "gloo", "gloo-hd"]
LIB_TITLES = {"loom": "loom", "mpi": "Open MPI", "gloo": "Gloo (ring)", "gloo-hd": "Gloo (halving-doubling)"}
MIB16 = 16 << 20


def human(n):
    for unit, sh in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << sh and n % (1 << sh) == 0:
            return f"{n >> sh}{unit}"
    return f"{n}B" if n < 1024 else str(n)


def _median_entry(vals):
    bus = statistics.median(v[0] for v in vals)
    tus = statistics.median(v[1] for v in vals)
    return {"busbw": round(bus, 5), "time_us": round(tus, 3), "n": len(vals), "samples": [round(v[0], 5) for v in vals]}


def _mode_for(loom, peer):
    for mode in ("oop", "ip"):
        if mode in loom and mode in peer:
            return mode
    return None


def _loom_bus(libs):
    loom = libs.get("loom", {})
    m = loom.get("oop") or loom.get("ip")
    return m["busbw"] if m else None


def build_results(meta, machine_runs, samples, failures, a):
    memcpy = max((m.get("memcpy", 0) for m in machine_runs), default=0)
    tcp = max((m.get("tcp", 0) for m in machine_runs), default=0)
    table = {}  # (ranks, transport, coll, size) -> {lib: {mode: entry}}
    for (r, t, lib, coll, size, mode), vals in samples.items():
        table.setdefault((r, t, coll, size), {}).setdefault(lib, {})[mode] = _median_entry(vals)
    # Gloo only has TCP: shm cases borrow the same-ranks TCP numbers (marked "from tcp").
    for (r, t, coll, size), libs in list(table.items()):
        if t == "shm":
            other = table.get((r, "tcp", coll, size), {})
            for g in ("gloo", "gloo-hd"):
                if g not in libs and g in other:
                    libs[g] = dict(other[g], **{"from": "tcp"})
    cases = []
    for (r, t, coll, size) in sorted(table, key=lambda k: (k[1], k[0], a.colls.index(k[2]) if k[2] in a.colls else 9, k[3])):
        libs = table[(r, t, coll, size)]
        ratios = {}
        if "loom" in libs:
            for p in PEERS:
                if p in libs:
                    # Same size, so busbw ratio == inverse time ratio; times keep precision at 8 B.
                    mode = _mode_for(libs["loom"], libs[p])
                    if mode and libs["loom"][mode]["time_us"] > 0:
                        ratios[p] = round(libs[p][mode]["time_us"] / libs["loom"][mode]["time_us"], 4)
            g = [ratios[p] for p in ("gloo", "gloo-hd") if p in ratios]
            if g:
                ratios["gloo_best"] = min(g)  # against the faster Gloo algorithm
        lb = _loom_bus(libs)
        case = {"ranks": r, "transport": t, "collective": coll, "size": size, "libs": libs, "ratios": ratios}
        if lb is not None:
            case["loom_frac_memcpy"] = round(lb / memcpy, 4) if memcpy else None
            case["loom_frac_tcp"] = round(lb / tcp, 4) if tcp else None
        cases.append(case)
    results = {"meta": meta, "machine": {"memcpy_gbps": memcpy, "tcp_loopback_gbps": tcp, "runs": machine_runs},
               "cases": cases, "failures": failures}
    results["targets"] = evaluate_targets(results)
    return results


def _find(results, r, t, coll, size):
    for c in results["cases"]:
        if (c["ranks"], c["transport"], c["collective"], c["size"]) == (r, t, coll, size):
            return c
    return None


def evaluate_targets(results):
    """The issue's targets, each as {name, case, value, goal, pass}."""
    out = []
    memcpy = results["machine"]["memcpy_gbps"]
    for c in results["cases"]:
        r, t, coll, size, rat = c["ranks"], c["transport"], c["collective"], c["size"], c["ratios"]
        where = f"{t} {r}r {coll} {human(size)}"
        if t == "shm" and "mpi" in rat:
            out.append({"name": "shm: every collective >= Open MPI", "case": where, "value": rat["mpi"], "goal": 1.0,
                        "pass": rat["mpi"] >= 1.0})
        if coll != "allreduce":
            continue
        if t == "shm" and size >= MIB16:
            if "mpi" in rat:
                out.append({"name": "shm allreduce >= 3x Open MPI (>=16M)", "case": where, "value": rat["mpi"],
                            "goal": 3.0, "pass": rat["mpi"] >= 3.0})
            if c.get("loom_frac_memcpy") is not None and memcpy:
                out.append({"name": "shm allreduce >= 40% of memcpy (>=16M)", "case": where,
                            "value": c["loom_frac_memcpy"], "goal": 0.4, "pass": c["loom_frac_memcpy"] >= 0.4})
        if t == "shm" and size == 8 and "loom" in c["libs"] and "mpi" in c["libs"]:
            mode = _mode_for(c["libs"]["loom"], c["libs"]["mpi"])
            if mode:
                lt, mt = c["libs"]["loom"][mode]["time_us"], c["libs"]["mpi"][mode]["time_us"]
                out.append({"name": "shm 8 B allreduce latency <= Open MPI (MPI time / loom time)", "case": where,
                            "value": round(mt / lt, 3), "goal": 1.0, "pass": lt <= mt,
                            "detail": f"loom {lt:.2f} us, MPI {mt:.2f} us"})
        if t == "tcp" and size >= MIB16:
            if "mpi" in rat:
                out.append({"name": "tcp allreduce >= 1.5x Open MPI (>=16M)", "case": where, "value": rat["mpi"],
                            "goal": 1.5, "pass": rat["mpi"] >= 1.5})
            if "gloo_best" in rat:
                out.append({"name": "tcp allreduce >= 2x Gloo (>=16M)", "case": where, "value": rat["gloo_best"],
                            "goal": 2.0, "pass": rat["gloo_best"] >= 2.0})
    return out


# ---------------------------------------------------------------- Markdown

def _fmt(x, nd=3):
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{nd}f}"


def _bus(libs, lib):
    e = libs.get(lib, {})
    m = e.get("oop") or e.get("ip")
    return m


def key_sizes(sizes):
    want = [8, 32 << 10, 2 << 20, 32 << 20, max(sizes) if sizes else 0]
    got = []
    for w in want:
        best = min(sizes, key=lambda s: abs(s.bit_length() - w.bit_length())) if sizes else None
        if best is not None and best not in got:
            got.append(best)
    return sorted(got)


def plot_name(t, r, coll):
    return f"{coll}_{t}_{r}ranks.svg"


# What the buffers were (meta "buffers"); results and baselines before the key were "vector".
BUFFER_TEXT = {"page-aligned": "page-aligned in every program (`-R 0`)",
               "loomMemAlloc": "every library's from `loomMemAlloc` (2 MiB aligned, huge pages advised; `-R 1`)",
               "vector": "`std::vector` in the reference programs, page-aligned in `loom bench` (before 2026-12-06)"}


def buffers_of(results_or_baseline):
    meta = results_or_baseline.get("meta", results_or_baseline)
    return meta.get("buffers", "vector")


def markdown(results):
    m, mach = results["meta"], results["machine"]
    L = ["# Loom vs Open MPI vs Gloo", "",
         f"{m['date']} on `{m['host']}` ({m['cpus']} CPUs; load average {m['loadavg_start'][0]:.1f} at start, "
         f"{m['loadavg_end'][0]:.1f} at end), git `{m['git']}`, {m['reps']} interleaved repetitions, "
         f"{m['seconds']:.0f} s. Command: `bench/compare {' '.join(m['argv'])}`.", "",
         f"Buffers: {BUFFER_TEXT.get(buffers_of(results), buffers_of(results))}.", "",
         f"Timing: {m['timing']}. busbw in GB/s (1e9 B/s). Ratios are loom/peer busbw (> 1: loom faster).", "",
         f"Machine ceilings measured in this run: single-core memcpy **{mach['memcpy_gbps']:.2f} GB/s**, "
         f"loopback TCP (one socket) **{mach['tcp_loopback_gbps']:.2f} GB/s**.", ""]
    where = cores_text(results)
    if where:
        L += [where, ""]
    sizes = sorted({c["size"] for c in results["cases"]})
    ks = key_sizes(sizes)
    L += ["## Summary: loom/MPI and loom/Gloo busbw ratios at key sizes", "",
          "Each cell: loom/Open MPI, then loom/Gloo (the faster of ring and halving-doubling; shm rows use Gloo's TCP numbers).", "",
          "| transport | ranks | collective | " + " | ".join(human(s) for s in ks) + " |",
          "|---|---|---|" + "---|" * len(ks)]
    groups = sorted({(c["transport"], c["ranks"], c["collective"]) for c in results["cases"]},
                    key=lambda g: (g[0], g[1], m["colls"].index(g[2]) if g[2] in m["colls"] else 9))
    for (t, r, coll) in groups:
        cells = []
        for s in ks:
            c = _find(results, r, t, coll, s)
            rat = c["ratios"] if c else {}
            cells.append(f"{_fmt(rat.get('mpi'), 2)} / {_fmt(rat.get('gloo_best'), 2)}" if rat else "-")
        L.append(f"| {t} | {r} | {coll} | " + " | ".join(cells) + " |")
    L += ["", "## Targets (issue 3)", ""]
    tg = results["targets"]
    if not tg:
        L.append("No target could be evaluated (loom or a peer missing).")
    names = []
    for x in tg:
        if x["name"] not in names:
            names.append(x["name"])
    for n in names:
        xs = [x for x in tg if x["name"] == n]
        passed = sum(x["pass"] for x in xs)
        worst = min(xs, key=lambda x: x["value"])
        L.append(f"- {n}: **{passed}/{len(xs)} cases pass**; worst {worst['case']}: {worst['value']:.2f} "
                 f"(goal {worst['goal']}){' — ' + worst['detail'] if worst.get('detail') else ''}")
    L += ["", "## Details", ""]
    for (t, r, coll) in groups:
        L += [f"### {coll}, {t}, {r} ranks", "", f"![{coll} {t} {r} ranks]({plot_name(t, r, coll)})", "",
              "| size | loom | Open MPI | Gloo ring | Gloo HD | loom/MPI | loom/Gloo | loom/memcpy | loom/TCP | loom µs | MPI µs | Gloo µs |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for c in results["cases"]:
            if (c["transport"], c["ranks"], c["collective"]) != (t, r, coll):
                continue
            libs, rat = c["libs"], c["ratios"]
            b = {lib: _bus(libs, lib) for lib in ["loom"] + PEERS}
            gt = [b[g]["time_us"] for g in ("gloo", "gloo-hd") if b[g]]
            L.append("| " + " | ".join([
                human(c["size"]), *[_fmt(b[lib]["busbw"]) if b[lib] else "-" for lib in ["loom"] + PEERS],
                _fmt(rat.get("mpi"), 2), _fmt(rat.get("gloo_best"), 2), _fmt(c.get("loom_frac_memcpy"), 2),
                _fmt(c.get("loom_frac_tcp"), 2), _fmt(b["loom"]["time_us"], 1) if b["loom"] else "-",
                _fmt(b["mpi"]["time_us"], 1) if b["mpi"] else "-", _fmt(min(gt), 1) if gt else "-"]) + " |")
        L.append("")
    if results["failures"]:
        L += ["## Failed runs", ""]
        for f in results["failures"]:
            L.append(f"- {f['lib']} {f['transport']} {f['ranks']} ranks {human(f['sizes'][0])}..{human(f['sizes'][1])} "
                     f"rep {f['rep'] + 1}: exit {f['rc']}")
        L.append("")
    return "\n".join(L)


def cores_text(results):
    """How far apart the cores were during the run, from the round trip measured before each launch."""
    return cores.summary([x.get("c2c_ns") for x in results.get("launches", [])], "just before each launch")


def summary_text(results):
    lines = ["case                      size   loom    MPI     Gloo   loom/MPI loom/Gloo"]
    ks = key_sizes(sorted({c["size"] for c in results["cases"]}))
    for c in results["cases"]:
        if c["size"] not in ks:
            continue
        b = {lib: _bus(c["libs"], lib) for lib in ["loom"] + PEERS}
        g = max((b[x]["busbw"] for x in ("gloo", "gloo-hd") if b[x]), default=None)
        lines.append(f"{c['transport']} {c['ranks']}r {c['collective']:14s} {human(c['size']):>6s} "
                     f"{_fmt(b['loom']['busbw'] if b['loom'] else None):>7s} {_fmt(b['mpi']['busbw'] if b['mpi'] else None):>7s} "
                     f"{_fmt(g):>7s} {_fmt(c['ratios'].get('mpi'), 2):>8s} {_fmt(c['ratios'].get('gloo_best'), 2):>8s}")
    mach = results["machine"]
    lines.append(f"memcpy {mach['memcpy_gbps']:.2f} GB/s, loopback TCP {mach['tcp_loopback_gbps']:.2f} GB/s; "
                 f"buffers {buffers_of(results)}")
    if cores_text(results):
        lines.append(cores_text(results))
    return "\n".join(lines)


# ---------------------------------------------------------------- plots

def _series(results, t, r, coll):
    out = {}
    for c in results["cases"]:
        if (c["transport"], c["ranks"], c["collective"]) != (t, r, coll):
            continue
        for lib in ["loom"] + PEERS:
            e = _bus(c["libs"], lib)
            if e and e["busbw"] > 0:
                out.setdefault(lib, []).append((c["size"], e["busbw"]))
    return out


def _gnuplot(path, title, series):
    script = [f"set terminal svg size 760,460 dynamic font 'sans,11'", f"set output '{path}'",
              f"set title '{title}'", "set logscale x 2", "set logscale y", "set grid",
              "set format x '%.0b%B'", "set xlabel 'size (bytes)'", "set ylabel 'busbw (GB/s)'",
              "set key left top"]
    plots = [f"'-' using 1:2 with linespoints title '{LIB_TITLES[lib]}'" for lib in series]
    script.append("plot " + ", ".join(plots))
    for lib in series:
        script += [f"{x} {y}" for x, y in series[lib]] + ["e"]
    r = subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, capture_output=True)
    return r.returncode == 0 and os.path.exists(path)


def _svg_by_hand(path, title, series):
    import math
    W, H, X0, Y0, X1, Y1 = 760, 460, 70, 40, 730, 400
    pts = [p for s in series.values() for p in s]
    lx = [math.log2(p[0]) for p in pts]
    ly = [math.log10(p[1]) for p in pts]
    xmin, xmax = min(lx), max(lx) if max(lx) > min(lx) else min(lx) + 1
    ymin, ymax = math.floor(min(ly)), math.ceil(max(ly)) if math.ceil(max(ly)) > math.floor(min(ly)) else math.floor(min(ly)) + 1
    sx = lambda v: X0 + (math.log2(v) - xmin) / (xmax - xmin) * (X1 - X0)
    sy = lambda v: Y1 - (math.log10(v) - ymin) / (ymax - ymin) * (Y1 - Y0)
    colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"]
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
         f'<rect width="{W}" height="{H}" fill="white"/><text x="{W / 2}" y="20" text-anchor="middle">{title}</text>',
         f'<rect x="{X0}" y="{Y0}" width="{X1 - X0}" height="{Y1 - Y0}" fill="none" stroke="black"/>']
    for e in range(ymin, ymax + 1):
        y = sy(10 ** e)
        o.append(f'<line x1="{X0}" y1="{y:.1f}" x2="{X1}" y2="{y:.1f}" stroke="#ddd"/>'
                 f'<text x="{X0 - 5}" y="{y + 4:.1f}" text-anchor="end">1e{e}</text>')
    for s in sorted({p[0] for p in pts}):
        x = sx(s)
        o.append(f'<text x="{x:.1f}" y="{Y1 + 15}" text-anchor="middle">{human(s)}</text>')
    o.append(f'<text x="{W / 2}" y="{H - 10}" text-anchor="middle">size (bytes)</text>'
             f'<text x="15" y="{H / 2}" transform="rotate(-90 15 {H / 2})" text-anchor="middle">busbw (GB/s)</text>')
    for i, (lib, s) in enumerate(series.items()):
        c = colors[i % len(colors)]
        o.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="' +
                 " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s) + '"/>')
        o.append(f'<text x="{X0 + 10}" y="{Y0 + 15 + 14 * i}" fill="{c}">{LIB_TITLES[lib]}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")
    return True


def write_plots(results, out):
    files = []
    groups = sorted({(c["transport"], c["ranks"], c["collective"]) for c in results["cases"]})
    for (t, r, coll) in groups:
        series = _series(results, t, r, coll)
        if not series:
            continue
        path = os.path.join(out, plot_name(t, r, coll))
        title = f"{coll}, {t}, {r} ranks (busbw vs size)"
        if not (shutil.which("gnuplot") and _gnuplot(path, title, series)):
            _svg_by_hand(path, title, series)
        files.append(path)
    return files


def write_all(results, out):
    for f in os.listdir(out):  # only the latest plots are kept
        if f.endswith(".svg"):
            os.remove(os.path.join(out, f))
    results["plots"] = [os.path.basename(p) for p in write_plots(results, out)]
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(markdown(results) + "\n")


# ---------------------------------------------------------------- baseline

def _ratio_keys(results):
    out = {}
    for c in results["cases"]:
        for p in ("mpi", "gloo_best"):
            if p in c["ratios"]:
                out[f"{c['transport']}/{c['ranks']}/{c['collective']}/{c['size']}/{p}"] = c["ratios"][p]
    return out


def update_baseline(results, path, tolerance):
    base = {}
    if os.path.exists(path):
        with open(path) as f:
            base = json.load(f)
    if base.get("ratios") and buffers_of(base) != buffers_of(results):
        return (f"update-baseline: {path} holds ratios measured on {buffers_of(base)} buffers and this run used "
                f"{buffers_of(results)}; a baseline holds one kind (name another file with --baseline, or remove it)")
    ratios = base.get("ratios", {})
    ratios.update(_ratio_keys(results))
    base = {"comment": "loom/peer busbw ratios (medians) from bench/compare --update-baseline; keys are "
                       "transport/ranks/collective/size/peer. --check fails when a ratio drops by more than tolerance.",
            "tolerance": tolerance if tolerance is not None else base.get("tolerance", 0.25),
            "updated": results["meta"]["date"], "git": results["meta"]["git"],
            "buffers": buffers_of(results), "ratios": dict(sorted(ratios.items()))}
    with open(path, "w") as f:
        json.dump(base, f, indent=1)
        f.write("\n")


def check_baseline(results, path, tolerance):
    if not os.path.exists(path):
        return False, f"check: no baseline at {path} (run with --update-baseline first)"
    with open(path) as f:
        base = json.load(f)
    tol = tolerance if tolerance is not None else base.get("tolerance", 0.25)
    if buffers_of(results) != buffers_of(base):
        return None, (f"check: this run used {buffers_of(results)} buffers and the baseline {buffers_of(base)}; "
                      "their ratios do not compare")
    cur = _ratio_keys(results)
    common = sorted(set(cur) & set(base.get("ratios", {})))
    if not common:
        return False, "check: no case of this run is in the baseline"
    bad = [(k, base["ratios"][k], cur[k]) for k in common if cur[k] < base["ratios"][k] * (1 - tol)]
    lines = [f"check: {len(common)} ratios compared with {path} (tolerance {tol:.0%}): "
             f"{'OK' if not bad else f'{len(bad)} REGRESSED'}"]
    lines += [f"  {k}: baseline {b:.3f} -> now {c:.3f} ({(c / b - 1):+.0%})" for k, b, c in bad]
    return not bad, "\n".join(lines)
