#!/usr/bin/env python3
"""Run every benchmark under bench/, one after the other: `make bench`.

Each script measures timens against its peers in the same run and prints a
markdown table; results are also saved under bench/results/.
"""
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main():
    status = 0
    for script in sorted(BENCH.glob("bench_*.py")):
        print(f"\n## {script.name}\n", flush=True)
        status |= subprocess.run([sys.executable, str(script)]).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
