"""Where the cores are: a cache line's round trip between the first two CPUs (`machine_bench c2c`),
measured around benchmark launches. On a VM whose host moves its vCPUs (the AMD development VM:
about 48-80 ns in one phase, 315-370 ns in the other) it tells which phase a measurement ran in.
Used by bench/compare and bench/accuracy/run.py; see "Where the cores are" in docs/performance.md."""
import json
import statistics
import subprocess

# Above this round trip the two CPUs count as far apart.
FAR_CORES_NS = 150


def round_trip_ns(machine_bench):
    """The round trip now (2000 trips, median of 3), or None where it cannot be measured (one CPU,
    no machine_bench in this build)."""
    try:
        out = subprocess.run([machine_bench, "c2c", "--trips", "2000", "--reps", "3"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    return json.loads(lines[-1])["ns"] if out.returncode == 0 and lines else None


def summary(ns, what):
    """One line on the measured round trips (None entries are skipped); "" when there are none."""
    ns = [x for x in ns if x]
    if not ns:
        return ""
    far = sum(x > FAR_CORES_NS for x in ns)
    return (f"Cores: a cache line's round trip between the first two CPUs, measured {what}: "
            f"{min(ns):.0f}-{max(ns):.0f} ns (median {statistics.median(ns):.0f}); {far} of {len(ns)} measurements "
            f"found them more than {FAR_CORES_NS} ns apart (see \"Where the cores are\" in docs/performance.md: on "
            f"a VM whose host moves its vCPUs, loom's shm transfers ran up to 3x slower then).")
