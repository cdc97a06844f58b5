#!/usr/bin/env python3
"""Benchmark: the cost of a REALTIME read with libtimens, next to libfaketime.

Not a test. Measures ns per call of clock_gettime(CLOCK_REALTIME),
gettimeofday and time() in bench/clockloop.c, in one run:

- native: no preload;
- libtimens: LD_PRELOAD=libtimens.so on a page with a +1 day offset;
- libfaketime: Debian's libfaketime with FAKETIME="+1d", with its cache
  and with FAKETIME_NO_CACHE=1 (package libfaketime; skipped if missing).

Variants take turns in every round so drift in the machine's load hits
them alike; each figure is the median over rounds of clockloop's median
batch. Prints a markdown table with the ratio to native and saves it under
bench/results/ (git-ignored).

    .venv/bin/python bench/bench_realtime.py [--rounds 7] [--calls 2000000]
"""
import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))

from timens.page import ClockPage  # noqa: E402
from report import publish, ratio_table  # noqa: E402

LIBTIMENS = ROOT / "src" / "timens" / "native" / "libtimens.so"
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
FUNCTIONS = ["clock_gettime", "gettimeofday", "time"]
DAY_NS = 86400 * 10**9


def build(workdir):
    out = Path(workdir) / "clockloop"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", str(out), str(BENCH / "clockloop.c")],
                   check=True)
    return out


def variants(page):
    base = {k: v for k, v in os.environ.items()
            if k not in ("LD_PRELOAD", "TIMENS_PAGE", "FAKETIME", "FAKETIME_NO_CACHE")}
    out = {"native": base,
           "libtimens": dict(base, LD_PRELOAD=str(LIBTIMENS), TIMENS_PAGE=str(page))}
    if LIBFAKETIME.exists():
        faketime = dict(base, LD_PRELOAD=str(LIBFAKETIME), FAKETIME="+1d")
        out["libfaketime"] = faketime
        out["libfaketime, no cache"] = dict(faketime, FAKETIME_NO_CACHE="1")
    return out


def ns_per_call(loop, fn, env, calls, reps):
    proc = subprocess.run([str(loop), fn, str(calls), str(reps)], env=env, check=True,
                          capture_output=True, text=True)
    return float(re.search(r"ns_per_call ([\d.]+)", proc.stdout).group(1))


def check_offsets(loop_env):
    """Each variant must really shift REALTIME, or its figure means nothing."""
    for label, env in loop_env.items():
        shown = int(subprocess.run(["date", "+%s"], env=env, check=True, capture_output=True,
                                   text=True).stdout)
        host = int(datetime.datetime.now().timestamp())
        want = 0 if label == "native" else 86400
        if abs(shown - host - want) > 5:
            sys.exit(f"{label}: date reads {shown - host:+d} s from host, expected {want:+d} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2_000_000)
    parser.add_argument("--reps", type=int, default=7, help="batches per clockloop run")
    args = parser.parse_args()
    if not LIBTIMENS.exists():
        sys.exit(f"{LIBTIMENS} is missing: build it with `setup.py build_ext --inplace`")

    with tempfile.TemporaryDirectory() as tmp, ClockPage.create(Path(tmp) / "page", DAY_NS) as page:
        loop = build(tmp)
        envs = variants(page.path)
        check_offsets(envs)
        samples = {(fn, label): [] for fn in FUNCTIONS for label in envs}
        for _ in range(args.rounds):
            for fn in FUNCTIONS:
                for label, env in envs.items():
                    samples[fn, label].append(ns_per_call(loop, fn, env, args.calls, args.reps))
    median = {key: statistics.median(values) for key, values in samples.items()}

    how = (f"median of {args.rounds} rounds x {args.reps} batches x {args.calls} calls; "
           "ns per call (ratio to native).")
    publish(ratio_table("REALTIME read cost", how, "call", FUNCTIONS, list(envs), median), "realtime")


if __name__ == "__main__":
    main()
