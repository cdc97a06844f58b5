#!/usr/bin/env python3
"""Benchmark: `timens list --json` against `lsns -t time -J`, at 10, 300 and 1,000 namespaces.

Not a test. For each size, bench/nsholder.c makes that many time
namespaces (one sleeping process in each, with a MONOTONIC offset); both
listers run in turns and the median wall time is reported with the ratio
to lsns. Before timing, timens's listing is checked to hold every one of
them, so a fast but wrong lister cannot win. The --pages size (300) is
also run with a clock page for every namespace (REALTIME +1d), as
`timens run --realtime` makes them: each is read and checked for staleness. The listing's own work,
without the interpreter's start-up, is shown too: `list_namespaces()`
timed inside one Python process.

    .venv/bin/python bench/bench_list.py [--quick] [-n 31] [--sizes 10,300,1000] [--pages 300]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import common
from report import publish

MONO_SEC = 12345
DAY_NS = 86400 * 10**9

IN_PROCESS = """
import statistics, sys, time, timens
times = []
for _ in range(int(sys.argv[1])):
    start = time.perf_counter_ns()
    timens.list_namespaces()
    times.append((time.perf_counter_ns() - start) / 1e6)
print(statistics.median(times))
"""


def check_listing(n, pages):
    out = subprocess.run([common.TIMENS, "list", "--json"], check=True, capture_output=True, text=True).stdout
    found = [ns for ns in json.loads(out)["namespaces"] if ns["offsets"]["monotonic_ns"] == MONO_SEC * 10**9
             and ns["offsets"]["realtime_ns"] == (DAY_NS if pages else None)]
    if len(found) < n:
        sys.exit(f"timens list found {len(found)} of the {n} namespaces")
    lsns = json.loads(subprocess.run([common.LSNS, "-t", "time", "-J"], check=True, capture_output=True,
                                     text=True).stdout)["namespaces"]
    return len(found), len(lsns)


def make_pages(inodes):
    from timens.page import ClockPage, page_path

    for inode in inodes:
        path = page_path(os.environ["TIMENS_RUNDIR"], inode)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ClockPage.create(path, DAY_NS).close()


def remove_pages():
    shutil.rmtree(os.path.join(os.environ["TIMENS_RUNDIR"], "pages"), ignore_errors=True)


def main():
    p = common.parser(__doc__)
    p.add_argument("-n", type=int, help="timed runs of each lister per size (31; 5 with --quick)")
    p.add_argument("--sizes", default="10,300,1000")
    p.add_argument("--pages", type=int, default=300, help="also this many with a clock page each (0: none)")
    args = p.parse_args()
    n = args.n or (5 if args.quick else 31)
    runs = [(int(s), False) for s in args.sizes.split(",")] + ([(args.pages, True)] if args.pages else [])
    rundir = common.prepare()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size, pages in runs:
            with common.Namespaces(size, tmp, MONO_SEC) as made:
                if pages:
                    make_pages(made.inodes())
                found, listed_by_lsns = check_listing(size, pages)
                timings = common.in_turns({
                    "timens": lambda: common.timed([common.TIMENS, "list", "--json"]),
                    "lsns": lambda: common.timed([common.LSNS, "-t", "time", "-J"], tries=3),
                }, n, warmup=2)
                work = float(subprocess.run([common.PYTHON, "-c", IN_PROCESS, str(n)], check=True,
                                            capture_output=True, text=True).stdout)
            remove_pages()
            cells = [f"{size}{', with pages' if pages else ''}", f"{found} / {listed_by_lsns}"]
            for kind in ("wall", "cpu"):
                mine, peer = ([getattr(t, kind) for t in timings[who]] for who in ("timens", "lsns"))
                cells += [common.spread(mine), common.spread(peer), f"**{common.ratio(mine, peer):.2f}x**"]
            rows.append("| " + " | ".join([*cells, f"{work:.1f}"]) + " |")
    rundir.cleanup()

    lines = [
        "# `timens list --json` against `lsns -t time -J`",
        "",
        common.machine(),
        f"Median ms (interquartile range) of {n} runs each, in turns, after 2 warm-up runs: wall time, and "
        "CPU time (user + system), which a busy machine inflates less; timens / lsns is the median of the "
        "ratios of runs in the same turn. The last column is `list_namespaces()` timed inside Python.",
        "",
        "| namespaces made | found by timens / lsns | timens list --json, wall | lsns -t time -J, wall | timens / lsns "
        "| timens, CPU | lsns, CPU | timens / lsns, CPU | listing in-process |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]
    publish("\n".join(lines) + "\n", "list")


if __name__ == "__main__":
    main()
