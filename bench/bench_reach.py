#!/usr/bin/env python3
"""Benchmark: the cost of a REALTIME read through the vDSO patch.

Not a test. For each kind of program that never loads libtimens.so, in one
run, ns per read of:

- native: the program as it is;
- patched: run under timens-tracer on a page with a +1 day offset (the
  vDSO's clock_gettime, gettimeofday and time lead to the injected code);
- syscall per read: clock_gettime as a raw system call on every read,
  which is what Chaos Mesh's TimeChaos injects, for comparison.

Programs: bench/clockloop.c built with gcc -static (static glibc) and
musl-gcc -static (musl), reading clock_gettime(CLOCK_REALTIME); and
bench/goloop (CGO_ENABLED=0), reading time.Now() (which is two vDSO
calls: REALTIME and MONOTONIC). Variants take turns in every round; each
figure is the median over rounds of the program's median batch, and a
second table gives the fastest round. The goal is patched <= 1.10x native.

    .venv/bin/python bench/bench_reach.py [--rounds 7] [--calls 2000000]
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

TRACER = ROOT / "src" / "timens" / "native" / "timens-tracer"
DAY_NS = 86400 * 10**9


def build(workdir):
    """kind -> (argv of a read, argv of a syscall per read)."""
    out = Path(workdir)
    for name, cc in (("glibc-static", ["gcc", "-static"]), ("musl-static", ["musl-gcc", "-static"])):
        subprocess.run([*cc, "-O2", "-Wall", "-Werror", "-o", str(out / name), str(BENCH / "clockloop.c")],
                       check=True)
    env = dict(os.environ, CGO_ENABLED="0", GOCACHE=str(out / "gocache"), GOPATH=str(out / "gopath"),
               GOFLAGS="", GOPROXY="off")
    subprocess.run(["go", "build", "-o", str(out / "go"), "."], cwd=BENCH / "goloop", env=env, check=True)
    return {
        "static glibc": ([str(out / "glibc-static"), "clock_gettime"], [str(out / "glibc-static"), "syscall"]),
        "static musl": ([str(out / "musl-static"), "clock_gettime"], [str(out / "musl-static"), "syscall"]),
        "Go": ([str(out / "go"), "now"], [str(out / "go"), "syscall"]),
    }


def ns_per_call(argv, calls, reps):
    proc = subprocess.run([*argv, str(calls), str(reps)], check=True, capture_output=True, text=True)
    return float(re.search(r"ns_per_call ([\d.]+)", proc.stdout).group(1))


def check_patch(page, workdir):
    """The patched variant must really read the page, or its figure means nothing."""
    shown = subprocess.run([str(TRACER), "run", str(page), "--", "/bin/busybox", "date", "+%s"], check=True,
                           capture_output=True, text=True).stdout
    if abs(int(shown) - datetime.datetime.now().timestamp() - 86400) > 5:
        sys.exit(f"the patched busybox date reads {shown.strip()}, not host + 1 day")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2_000_000)
    parser.add_argument("--reps", type=int, default=7, help="batches per run")
    args = parser.parse_args()
    if not TRACER.exists():
        sys.exit(f"{TRACER} is missing (x86-64 only): build it with `setup.py build_ext --inplace`")

    with tempfile.TemporaryDirectory() as tmp, ClockPage.create(Path(tmp) / "page", DAY_NS) as page:
        programs = build(tmp)
        check_patch(page.path, tmp)
        variants = {
            "native": lambda read, sys_read: read,
            "patched": lambda read, sys_read: [str(TRACER), "run", str(page.path), "--", *read],
            "syscall per read": lambda read, sys_read: sys_read,
        }
        samples = {(kind, label): [] for kind in programs for label in variants}
        for _ in range(args.rounds):
            for kind, (read, sys_read) in programs.items():
                for label, argv in variants.items():
                    samples[kind, label].append(ns_per_call(argv(read, sys_read), args.calls, args.reps))
    median = {key: statistics.median(values) for key, values in samples.items()}
    fastest = {key: min(values) for key, values in samples.items()}

    how = (f"median of {args.rounds} rounds x {args.reps} batches x {args.calls} calls; "
           "ns per read (ratio to native). Goal: patched <= 1.10x.")
    table = ratio_table("REALTIME read cost through the vDSO patch", how, "program", list(programs),
                        list(variants), median)
    # On a shared machine the median round still catches other loads; the
    # fastest round of each variant is the least disturbed one.
    table += "\n" + ratio_table("The same, fastest round of each", "ns per read (ratio to native).", "program",
                                list(programs), list(variants), fastest)
    publish(table, "reach")


if __name__ == "__main__":
    main()
