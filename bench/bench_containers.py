#!/usr/bin/env python3
"""Benchmark: what timens-runtime adds to the start of a container.

Not a test. In one run, against one private dockerd: median wall time of
`docker run --rm IMAGE true` under plain runc, under `--runtime timens`
with no clocks, with BOOTTIME, and with BOOTTIME and REALTIME (the library
and page mounted). The variants take turns, so drift in the machine's load
hits them all alike. Goals: under 10% added without clocks, under 50 ms
added with them.

Prints a markdown table and saves it under bench/results/ (git-ignored).

    .venv/bin/python bench/bench_containers.py [-n 15] [--warmup 2]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from report import publish

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from containers import rootfs  # noqa: E402  (the engines and image the tests use)
from containers.engines import Dockerd  # noqa: E402

IMAGE = "timens-bench:1"
VARIANTS = {
    "runc": ["--runtime", "runc"],
    "runc, named with --add-runtime": ["--runtime", "runc-named"],
    "timens, no clocks": ["--runtime", "timens"],
    "timens, BOOTTIME": ["--runtime", "timens", "-e", "TIMENS_BOOTTIME=+1d"],
    "timens, BOOTTIME + REALTIME": ["--runtime", "timens", "-e", "TIMENS_BOOTTIME=+1d", "-e", "TIMENS_REALTIME=+1y"],
}


def measure(dockerd, n, warmup):
    times = {label: [] for label in VARIANTS}
    for i in range(warmup + n):
        for label, options in VARIANTS.items():
            start = time.perf_counter_ns()
            out = dockerd.docker("run", "--rm", *options, IMAGE, "true")
            elapsed = (time.perf_counter_ns() - start) / 1e6
            if out.returncode != 0:
                raise SystemExit(f"{label}: docker run failed: {out.stderr.strip()}")
            if i >= warmup:
                times[label].append(elapsed)
    return {label: statistics.median(t) for label, t in times.items()}


def table(medians, n):
    base = medians["runc"]
    lines = [
        f"docker run --rm IMAGE true, median of {n} runs each (ms), {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        "| runtime | median ms | vs runc | added ms |",
        "|---|---:|---:|---:|",
    ]
    for label, ms in medians.items():
        lines.append(f"| {label} | {ms:.0f} | {ms / base:.2f}x | {ms - base:+.0f} |")
    no_clocks = medians["timens, no clocks"] / base - 1
    with_clocks = max(medians[label] for label in VARIANTS if "BOOTTIME" in label) - base
    lines += [
        "",
        f"goal without clocks: under 10% added: {no_clocks:+.1%} ({'met' if no_clocks < 0.10 else 'NOT met'})",
        f"goal with clocks: under 50 ms added: {with_clocks:+.0f} ms ({'met' if with_clocks < 50 else 'NOT met'})",
    ]
    return "\n".join(lines) + "\n"


def compile_package():
    """Bytecode for the package, as pip leaves it when it installs a wheel:
    an editable install under PYTHONDONTWRITEBYTECODE would compile every
    module on every Python call of timens-runtime."""
    import compileall

    import timens

    compileall.compile_dir(os.path.dirname(timens.__file__), quiet=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory(prefix="timens-bench-") as work:
        work = Path(work)
        _, tar = rootfs.build(work / "image")
        dockerd = Dockerd(work / "dockerd", {**os.environ, "TIMENS_RUNDIR": str(work / "run")})
        try:
            dockerd.start(f"runc-named={shutil.which('runc')}")
            dockerd.docker("import", tar, IMAGE)
            medians = measure(dockerd, args.n, args.warmup)
        finally:
            dockerd.stop()
    publish(table(medians, args.n), "containers")


if __name__ == "__main__":
    main()
