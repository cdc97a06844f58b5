#!/usr/bin/env python3
"""Benchmark: how long `timens run` takes to start, next to a bare interpreter and `unshare`.

Not a test. Median wall time of each command, run in turns after a
warm-up, with compiled bytecode present (as an installed package has it):

- `timens run --monotonic +1s -- true` and `timens run -- true`;
- `python3 -I -S -c pass` with the interpreter timens runs on (the floor
  for any Python program: the goal is at most 2x this);
- `python3 -c pass` (the same, with site, as the `timens` script starts);
- `unshare --time --fork true` and with `--monotonic 1` (util-linux, in C).

Then `python -X importtime` of `timens run --monotonic +1s -- true`:
the modules that cost most, by their own time and by what they pull in.

    .venv/bin/python bench/bench_startup.py [--quick] [-n 60]
"""
import re
import statistics
import subprocess
from collections import defaultdict

import common
from report import publish


def commands():
    py = common.PYTHON
    return {
        "timens run --monotonic +1s -- true": [common.TIMENS, "run", "--monotonic", "+1s", "--", "/bin/true"],
        "timens run -- true": [common.TIMENS, "run", "--", "/bin/true"],
        "python3 -I -S -c pass": [py, "-I", "-S", "-c", "pass"],
        "python3 -c pass": [py, "-c", "pass"],
        "unshare --time --fork true": [common.UNSHARE, "--time", "--fork", "/bin/true"],
        "unshare --time --fork --monotonic 1 true": [common.UNSHARE, "--time", "--fork", "--monotonic", "1",
                                                     "/bin/true"],
    }


def import_times(argv, repeats):
    """({module: median self µs}, {top-level module: median cumulative µs}, median total µs)."""
    own, top, totals = defaultdict(list), defaultdict(list), []
    for _ in range(repeats):
        err = subprocess.run([common.PYTHON, "-X", "importtime", *argv], check=True, capture_output=True,
                             text=True).stderr
        total = 0
        for line in err.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
            if not m:
                continue
            self_us, cumulative, depth, name = int(m.group(1)), int(m.group(2)), len(m.group(3)), m.group(4)
            own[name].append(self_us)
            total += self_us
            if depth == 1:
                top[name].append(cumulative)
        totals.append(total)
    med = lambda d: {k: statistics.median(v + [0] * (repeats - len(v))) for k, v in d.items()}  # noqa: E731
    return med(own), med(top), statistics.median(totals)


def main():
    p = common.parser(__doc__)
    p.add_argument("-n", type=int, help="timed runs per command (60; 10 with --quick)")
    p.add_argument("--top", type=int, default=10, help="modules to show in the import tables")
    args = p.parse_args()
    n = args.n or (10 if args.quick else 60)
    rundir = common.prepare()

    cmds = commands()
    timings = common.in_turns({label: (lambda argv=argv: common.timed(argv)) for label, argv in cmds.items()},
                              n, warmup=3)
    wall = {label: [t.wall for t in ts] for label, ts in timings.items()}
    cpu = {label: [t.cpu for t in ts] for label, ts in timings.items()}
    own, top, total = import_times([common.TIMENS, "run", "--monotonic", "+1s", "--", "/bin/true"],
                                   3 if args.quick else 7)
    rundir.cleanup()

    bare, unshare = "python3 -I -S -c pass", "unshare --time --fork true"
    lines = [
        "# Start-up: `timens run` against a bare interpreter and `unshare`",
        "",
        common.machine(),
        f"Median ms (interquartile range) of {n} runs each, in turns, after 3 warm-up runs: wall time, "
        "and CPU time (user + system, with children), which a busy machine inflates less. "
        "Ratios are medians of the ratios of runs in the same turn.",
        "",
        f"| command | wall ms | vs `{bare}` | vs `{unshare}` | CPU ms | CPU vs `{bare}` |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label in timings:
        bold = "**" if label.startswith("timens") else ""
        lines.append(f"| `{label}` | {common.spread(wall[label])} | "
                     f"{bold}{common.ratio(wall[label], wall[bare]):.2f}x{bold} | "
                     f"{common.ratio(wall[label], wall[unshare]):.2f}x | {common.spread(cpu[label])} | "
                     f"{common.ratio(cpu[label], cpu[bare]):.2f}x |")
    lines += [
        "",
        f"`python -X importtime` of `timens run --monotonic +1s -- true`: {total / 1000:.1f} ms of imports "
        f"(sum of every module's own time, median of {3 if args.quick else 7}).",
        "",
        "| top-level import | ms, with what it pulls in |   | module | ms, own |",
        "|---|---:|---|---|---:|",
    ]
    tops = sorted(top.items(), key=lambda kv: -kv[1])[:args.top]
    owns = sorted(own.items(), key=lambda kv: -kv[1])[:args.top]
    for i in range(max(len(tops), len(owns))):
        a = f"`{tops[i][0]}` | {tops[i][1] / 1000:.1f}" if i < len(tops) else " | "
        b = f"`{owns[i][0]}` | {owns[i][1] / 1000:.2f}" if i < len(owns) else " | "
        lines.append(f"| {a} |   | {b} |")
    publish("\n".join(lines) + "\n", "startup")


if __name__ == "__main__":
    main()
