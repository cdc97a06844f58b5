#!/usr/bin/env python3
"""Benchmark: the cost of a clock read inside a timens namespace, next to native and libfaketime.

Not a test. ns per call of clock_gettime(CLOCK_REALTIME), gettimeofday,
time() and clock_gettime(CLOCK_MONOTONIC), from bench/clockloop.c, in one
run:

- native: no namespace, no preload;
- timens: `timens run --realtime +1d` (kernel namespace, libtimens.so and a
  clock page, as a user gets them), and libtimens.so alone (LD_PRELOAD and
  TIMENS_PAGE outside any kernel time namespace: inside one, the kernel's
  vDSO takes a slightly longer path for every clock). Where timens has the vDSO patch
  (native/timens-tracer), also without it (TIMENS_VDSO_PATCH=0), and a
  statically linked clockloop, which only the patch reaches. For MONOTONIC,
  `timens run --monotonic +1d` (kernel namespace only) and with
  `--realtime +1d` too (a namespace with a page: reads go through it);
- peers: Debian's libfaketime with FAKETIME="+1d", with its cache and with
  FAKETIME_NO_CACHE=1 (skipped if missing); for MONOTONIC, the kernel's own
  namespace made by `unshare --time --monotonic 86400`.

Every run also checks the offset it read (a variant that does not shift
the clock would be measuring nothing). Variants take turns in every round;
each figure is the median over rounds of clockloop's median batch, with the
ratio to native (and for time(), the difference in ns).

    .venv/bin/python bench/bench_reads.py [--quick] [--rounds 11] [--calls 1000000]
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import common
from report import publish
from timens.page import ClockPage

DAY = 86400
TRACER = common.NATIVE / "timens-tracer"
REALTIME_FUNCTIONS = ["clock_gettime", "gettimeofday", "time"]


def variants(page):
    """{function: {label: (argv prefix, env, expected offset in s)}}"""
    base = {k: v for k, v in os.environ.items()
            if k not in ("LD_PRELOAD", "TIMENS_PAGE", "FAKETIME", "FAKETIME_NO_CACHE")}
    run = [common.TIMENS, "run"]
    realtime = {
        "native": ([], base, 0),
        "timens": ([*run, "--realtime", "+1d", "--"], base, DAY),
        "libtimens.so alone": ([], dict(base, LD_PRELOAD=str(common.LIBTIMENS), TIMENS_PAGE=str(page)), DAY),
    }
    if TRACER.exists():  # the vDSO patch: how static, musl and Go programs read the page
        realtime["timens, no vDSO patch"] = ([*run, "--realtime", "+1d", "--"], dict(base, TIMENS_VDSO_PATCH="0"),
                                             DAY)
        realtime["timens, static binary"] = ([*run, "--realtime", "+1d", "--"], base, DAY, "static")
    if common.LIBFAKETIME.exists():
        faketime = dict(base, LD_PRELOAD=str(common.LIBFAKETIME), FAKETIME="+1d")
        realtime["libfaketime"] = ([], faketime, DAY)
        realtime["libfaketime, no cache"] = ([], dict(faketime, FAKETIME_NO_CACHE="1"), DAY)
    monotonic = {
        "native": ([], base, 0),
        "timens, kernel only": ([*run, "--monotonic", "+1d", "--"], base, DAY),
        "timens, with a page": ([*run, "--monotonic", "+1d", "--realtime", "+1d", "--"], base, DAY),
        "unshare --time": ([common.UNSHARE, "--time", "--fork", "--monotonic", str(DAY)], base, DAY),
    }
    return {**{fn: realtime for fn in REALTIME_FUNCTIONS}, "monotonic": monotonic}


def sample(loops, fn, variant, calls, reps):
    prefix, env, expected, *build = variant
    loop = loops[build[0] if build else "dynamic"]
    host = time.clock_gettime(time.CLOCK_MONOTONIC if fn == "monotonic" else time.CLOCK_REALTIME)
    out = subprocess.run([*prefix, loop, fn, str(calls), str(reps)], env=env, check=True,
                         capture_output=True, text=True).stdout
    first = int(re.search(r"first_sec (-?\d+)", out).group(1))
    if abs(first - host - expected) > 5:
        sys.exit(f"{fn} under {' '.join(prefix) or 'nothing'}: read {first - host:+.0f} s from host, "
                 f"expected {expected:+d} s")
    return float(re.search(r"ns_per_call ([\d.]+)", out).group(1))


def main():
    p = common.parser(__doc__)
    p.add_argument("--rounds", type=int, help="rounds of every variant (11; 3 with --quick)")
    p.add_argument("--calls", type=int, default=1_000_000, help="reads per batch")
    p.add_argument("--reps", type=int, default=5, help="batches per clockloop run (the median is kept)")
    args = p.parse_args()
    rounds = args.rounds or (3 if args.quick else 11)
    rundir = common.prepare()
    with tempfile.TemporaryDirectory() as tmp:
        page = os.path.join(tmp, "page")
        ClockPage.create(page, DAY * 10**9).close()
        table = variants(page)
        loops = {"dynamic": common.build("clockloop", tmp)}
        if TRACER.exists():
            loops["static"] = common.build("clockloop", tmp, "-static")
        samples = {(fn, label): [] for fn, vs in table.items() for label in vs}
        for _ in range(rounds):
            for fn, vs in table.items():
                for label, variant in vs.items():
                    samples[fn, label].append(sample(loops, fn, variant, args.calls, args.reps))
    rundir.cleanup()
    median = {key: statistics.median(values) for key, values in samples.items()}

    def cell(fn, label):
        mine, native = samples[fn, label], samples[fn, "native"]
        extra = ""
        if fn == "time" and label != "native":
            extra = f", +{statistics.median(a - b for a, b in zip(mine, native)):.1f} ns"
        bold = "**" if label == "timens" or label.startswith("timens,") else ""
        return f"{median[fn, label]:.1f} ({bold}{common.ratio(mine, native):.2f}x{bold}{extra})"

    lines = [
        "# Clock read cost: native, timens and peers",
        "",
        common.machine(),
        f"Median of {rounds} rounds x {args.reps} batches x {args.calls} calls; ns of CPU time per call "
        "(ratio to native, and for time() the difference: medians of those of each round, "
        "whose variants run one after the other).",
        "",
    ]
    for title, fns in (("REALTIME", REALTIME_FUNCTIONS), ("MONOTONIC", ["monotonic"])):
        labels = list(table[fns[0]])
        lines += [f"| {title} | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
        lines += [f"| `{'clock_gettime(CLOCK_MONOTONIC)' if fn == 'monotonic' else fn}` | "
                  + " | ".join(cell(fn, label) for label in labels) + " |" for fn in fns]
        lines.append("")
    publish("\n".join(lines), "reads")


if __name__ == "__main__":
    main()
