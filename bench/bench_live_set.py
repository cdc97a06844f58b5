#!/usr/bin/env python3
"""Benchmark: a live REALTIME change seen by 1,000 running processes.

Not a test. bench/setwatch.c starts N readers (1,000 by default) inside a
named timens namespace with a clock page (`timens exec NAME --`, so they
read through libtimens.so); each reads CLOCK_REALTIME every PERIOD (10 ms
by default) and notes when it sees the clock jump. This process then
writes a new REALTIME offset to the page (what `timens set` does) and
measures the time from the write until the median, 99th percentile and
last reader have seen it. Several changes are made; medians over them are
reported.

The peer: the same readers under libfaketime with FAKETIME_TIMESTAMP_FILE
and FAKETIME_NO_CACHE=1 (its way to change time for running processes:
each read re-reads the file), the file replaced atomically. A reader that
polls every PERIOD sees a change PERIOD/2 later on average and PERIOD at
worst, so that is the floor; anything above it is scheduling 1,000
processes on this machine's cores and the cost of each read.

    .venv/bin/python bench/bench_live_set.py [--quick] [--readers 1000] [--period-ms 10] [--changes 7]
"""
import os
import random
import select
import statistics
import subprocess
import sys
import tempfile
import time

import common
from report import publish

DAY_NS = 86400 * 10**9
TIMEOUT_S = 30


class Watchers:
    """setwatch and its readers, ended on leaving the `with` block (and with this process)."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    def __enter__(self):
        if self.proc.stdout.readline() != b"ready\n":
            self.__exit__()
            sys.exit("setwatch could not start its readers")
        return self

    def seen_after(self, t0):
        """(median, p99, max) ms from T0 until the readers saw the change."""
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT_S)
        if not ready:
            sys.exit(f"not every reader saw the change within {TIMEOUT_S} s")
        words = self.proc.stdout.readline().split()
        if not words or words[0] != b"seen":
            sys.exit(f"setwatch ended: {words}")
        return tuple((int(w) - t0) / 1e6 for w in words[1:])

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait()
        self.proc.stdout.close()


def changes(watchers, write, count):
    results = []
    for k in range(count):
        time.sleep(random.uniform(0.2, 0.3))  # land anywhere in the readers' period
        t0 = time.monotonic_ns()
        write(k)
        results.append(watchers.seen_after(t0))
    return results


def with_timens(watch, argv_tail, count):
    import timens
    from timens.page import ClockPage

    ns = timens.TimeNamespace.create("live-set", realtime="+1d")
    try:
        with Watchers([common.TIMENS, "exec", "live-set", "--", watch, *argv_tail]) as w, \
                ClockPage.open(ns.page_path) as page:
            return changes(w, lambda k: page.set_realtime_offset((k + 2) * DAY_NS), count)
    finally:
        ns.delete()


def with_libfaketime(watch, argv_tail, count, tmp):
    stamp = os.path.join(tmp, "faketime")

    def write(k):
        with open(stamp + ".new", "w") as f:
            f.write(f"+{k + 2}d\n")
        os.replace(stamp + ".new", stamp)

    with open(stamp, "w") as f:
        f.write("+1d\n")
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")}
    env.update(LD_PRELOAD=str(common.LIBFAKETIME), FAKETIME_TIMESTAMP_FILE=stamp, FAKETIME_NO_CACHE="1")
    with Watchers([watch, *argv_tail], env) as w:
        return changes(w, write, count)


def main():
    p = common.parser(__doc__)
    p.add_argument("--readers", type=int, default=1000)
    p.add_argument("--period-ms", type=float, default=10.0, help="how often each reader reads the clock")
    p.add_argument("--changes", type=int, help="changes made (7; 3 with --quick)")
    args = p.parse_args()
    count = args.changes or (3 if args.quick else 7)
    rundir = common.prepare()
    tail = [str(args.readers), str(int(args.period_ms * 1000))]
    with tempfile.TemporaryDirectory() as tmp:
        watch = common.build("setwatch", tmp)
        results = {"timens (page write)": with_timens(watch, tail, count)}
        if common.LIBFAKETIME.exists():
            results["libfaketime (timestamp file, no cache)"] = with_libfaketime(watch, tail, count, tmp)
    rundir.cleanup()

    lines = [
        f"# A live REALTIME change seen by {args.readers} processes",
        "",
        common.machine(),
        f"Each reader reads CLOCK_REALTIME every {args.period_ms:g} ms (so {args.period_ms / 2:g} ms on average "
        f"and {args.period_ms:g} ms at worst is the floor). ms from the write until readers saw it; "
        f"median over {count} changes.",
        "",
        "| how the change is made | median reader | 99th percentile | last reader |",
        "|---|---:|---:|---:|",
    ]
    for label, rows in results.items():
        cols = [statistics.median(col) for col in zip(*rows)]
        lines.append(f"| {label} | " + " | ".join(f"{v:.1f}" for v in cols) + " |")
    publish("\n".join(lines) + "\n", "live_set")


if __name__ == "__main__":
    main()
