#!/usr/bin/env python3
"""Run every benchmark under bench/, one after the other: `make bench`.

Each script measures timens against its peers in the same run and prints a
markdown table; results are also saved under bench/results/ (one file per
benchmark, and all of them together in all-<time>.md).

    .venv/bin/python bench/run_all.py [--quick] [NAME ...]

NAME picks benchmarks (bench_NAME.py); --quick takes fewer samples, for
a smoke run (the figures are noisier).
"""
import argparse
import datetime
import os
import subprocess
import sys
from pathlib import Path

from common import QUICK_ENV
from report import RESULTS

BENCH = Path(__file__).resolve().parent
# Cheapest first, so a smoke run fails early; any other bench_*.py after these.
FIRST = ["startup", "reads", "list", "create", "live_set"]
ORDER = FIRST + sorted({p.stem[len("bench_"):] for p in BENCH.glob("bench_*.py")} - set(FIRST))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples: a smoke run")
    parser.add_argument("names", nargs="*", metavar="NAME", help=" ".join(ORDER))
    args = parser.parse_args()
    unknown = set(args.names) - set(ORDER)
    if unknown:
        parser.error(f"no benchmark {', '.join(sorted(unknown))}; there are {', '.join(ORDER)}")
    status = 0
    tables = []
    for name in args.names or ORDER:
        script = BENCH / f"bench_{name}.py"
        print(f"\n## {script.name}\n", flush=True)
        env = dict(os.environ, **({QUICK_ENV: "1"} if args.quick else {}))
        proc = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
        print(proc.stdout, end="", flush=True)
        tables.append(proc.stdout)
        status |= proc.returncode
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"all-{datetime.datetime.now():%Y%m%d-%H%M%S}.md"
    out.write_text("\n".join(tables))
    print(f"\nall tables: {out.relative_to(BENCH.parent)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
