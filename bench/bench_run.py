#!/usr/bin/env python3
"""Benchmark: what timens costs, next to the tools a user would compare it with.

Not a test. Everything is measured in one run on this machine:

1. Start-up: median wall time of `timens run -- true`,
   `timens run --boottime +1d -- true`, `unshare --time --fork true` and
   `python3 -c pass`, over N runs each after a warm-up. The commands take
   turns, so drift in the machine's load hits them all alike.
2. Clock reads: ns per clock_gettime(CLOCK_MONOTONIC) on the host and inside
   a kernel time namespace (made by timens, and by unshare for reference),
   from bench/monoloop.c.
3. Import time: `python -X importtime -m timens --help`.

Prints a markdown table and saves it under bench/results/ (git-ignored).

    .venv/bin/python bench/bench_run.py [-n 30] [--warmup 3]
"""
import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import publish

BENCH = Path(__file__).resolve().parent
TIMENS = [sys.executable, "-m", "timens"]


def wall_ms(argv):
    start = time.perf_counter_ns()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return (time.perf_counter_ns() - start) / 1e6


def startup(commands, n, warmup):
    """{label: median ms}, running the commands in turn."""
    times = {label: [] for label in commands}
    for i in range(warmup + n):
        for label, argv in commands.items():
            ms = wall_ms(argv)
            if i >= warmup:
                times[label].append(ms)
    return {label: statistics.median(t) for label, t in times.items()}


def build_monoloop(workdir):
    out = Path(workdir) / "monoloop"
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(out), str(BENCH / "monoloop.c")], check=True)
    return out


def ns_per_call(argv, repeats):
    """Median over `repeats` runs of monoloop's own median."""
    values = []
    for _ in range(repeats):
        text = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        values.append(float(re.search(r"ns_per_call ([\d.]+)", text).group(1)))
    return statistics.median(values)


def import_time_us(repeats):
    """(timens modules' own import time, everything imported), medians in µs."""
    own, total = [], []
    for _ in range(repeats):
        err = subprocess.run([*TIMENS[:1], "-X", "importtime", *TIMENS[1:], "--help"],
                             check=True, capture_output=True, text=True).stderr
        mine = everything = 0
        for line in err.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
            if not m:
                continue
            self_us, name = int(m.group(1)), m.group(4)
            everything += self_us
            if name == "timens" or name.startswith("timens."):
                mine += self_us
        own.append(mine)
        total.append(everything)
    return statistics.median(own), statistics.median(total)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="timed runs per command (30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (3)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="runs of the clock-read and import benchmarks (5)")
    args = parser.parse_args()
    # keep whatever timens writes out of the real run directory
    rundir = tempfile.TemporaryDirectory(prefix="timens-bench-")
    os.environ["TIMENS_RUNDIR"] = rundir.name
    # Measure what users get: an installed package runs from compiled
    # bytecode, so do not let this environment forbid writing it.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(BENCH.parent / "src" / "timens")], check=True)

    unshare = shutil.which("unshare")
    commands = {
        "timens run -- true": [*TIMENS, "run", "--", "true"],
        "timens run --boottime +1d -- true": [*TIMENS, "run", "--boottime", "+1d", "--", "true"],
        "unshare --time --fork true": [unshare, "--time", "--fork", "true"],
        "python3 -c pass": [sys.executable, "-c", "pass"],
    }
    start_ms = startup(commands, args.n, args.warmup)
    base = start_ms["unshare --time --fork true"]

    with tempfile.TemporaryDirectory() as tmp:
        loop = str(build_monoloop(tmp))
        reads = {
            "host": ns_per_call([loop], args.repeats),
            "timens run --monotonic +1d": ns_per_call(
                [*TIMENS, "run", "--monotonic", "+1d", "--", loop], args.repeats),
            "unshare --time --monotonic 86400": ns_per_call(
                [unshare, "--time", "--fork", "--monotonic", "86400", loop], args.repeats),
        }
    own_us, total_us = import_time_us(args.repeats)

    lines = [
        f"# timens benchmark, {datetime.datetime.now().isoformat(timespec='seconds')}",
        "",
        f"{os.uname().sysname} {os.uname().release}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}; median of {args.n} runs after {args.warmup} warm-up",
        "",
        "| start-up | median ms | vs unshare |",
        "|---|---:|---:|",
    ]
    lines += [f"| `{label}` | {ms:.1f} | {ms / base:.2f}x |" for label, ms in start_ms.items()]
    lines += [
        "",
        f"| CLOCK_MONOTONIC read (median of {args.repeats}) | ns/call | vs host |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {ns:.2f} | {ns / reads['host']:.2f}x |" for label, ns in reads.items()]
    lines += [
        "",
        f"| `python -X importtime -m timens --help` (median of {args.repeats}) | ms |",
        "|---|---:|",
        f"| timens modules' own import time | {own_us / 1000:.1f} |",
        f"| everything imported (stdlib included) | {total_us / 1000:.1f} |",
    ]
    publish("\n".join(lines) + "\n", "bench")


if __name__ == "__main__":
    main()
