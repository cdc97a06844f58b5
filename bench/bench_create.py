#!/usr/bin/env python3
"""Benchmark: named namespaces created and deleted per second, next to util-linux.

Not a test. In a private run directory (TIMENS_RUNDIR), each turn creates
one named namespace with a MONOTONIC offset, and one with a REALTIME offset
too (so with a clock page), then deletes them, three ways:

- `timens create NAME --monotonic +1d [--realtime +1d]` / `timens delete NAME`;
- the Python API in this process: `TimeNamespace.create(NAME, ...)` /
  `.delete()` (no interpreter start-up);
- util-linux, what a shell user would write: `unshare --time=FILE
  --monotonic 86400 true` to create (a bind mount, as timens makes), and
  `umount FILE` + `rm FILE` to delete (it has no REALTIME).

Reported: median ms per operation and operations per second (1000 / median).
Everything made is removed at the end, on Ctrl-C and on SIGTERM too.

    .venv/bin/python bench/bench_create.py [--quick] [-n 30]
"""
import os
import shutil
import subprocess
import tempfile
import time

import common
from report import publish


def timed(fn):
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def main():
    p = common.parser(__doc__)
    p.add_argument("-n", type=int, help="namespaces made and deleted each way (30; 8 with --quick)")
    args = p.parse_args()
    n = args.n or (8 if args.quick else 30)
    rundir = common.prepare()
    import timens  # after TIMENS_RUNDIR is set: the API reads it

    peer_dir = tempfile.mkdtemp(prefix="timens-bench-unshare-")
    counter = iter(range(10**9))
    pending = {}  # what the current turn made, for delete and for cleanup

    def cli_create(*offsets):
        name = f"cli{next(counter)}"
        common.spawn_wait([common.TIMENS, "create", name, "--monotonic", "+1d", *offsets])
        pending["cli"] = name

    def cli_delete():
        common.spawn_wait([common.TIMENS, "delete", pending.pop("cli")])

    def api_create(**offsets):
        pending["api"] = timens.TimeNamespace.create(f"api{next(counter)}", monotonic="+1d", **offsets)

    def api_delete():
        pending.pop("api").delete()

    def unshare_create():
        path = os.path.join(peer_dir, f"u{next(counter)}")
        open(path, "w").close()
        pending["unshare"] = path
        common.spawn_wait([common.UNSHARE, f"--time={path}", "--monotonic", "86400", "/bin/true"])

    def unshare_delete():
        path = pending.pop("unshare")
        common.spawn_wait(["/bin/umount", path])
        common.spawn_wait(["/bin/rm", path])

    ops = {
        ("create --monotonic +1d", "timens CLI"): lambda: cli_create(),
        ("delete", "timens CLI"): cli_delete,
        ("create --monotonic +1d --realtime +1d", "timens CLI"): lambda: cli_create("--realtime", "+1d"),
        ("delete (with a page)", "timens CLI"): cli_delete,
        ("create --monotonic +1d", "timens API"): lambda: api_create(),
        ("delete", "timens API"): api_delete,
        ("create --monotonic +1d --realtime +1d", "timens API"): lambda: api_create(realtime="+1d"),
        ("delete (with a page)", "timens API"): api_delete,
        ("create --monotonic +1d", "unshare --time=FILE"): unshare_create,
        ("delete", "unshare --time=FILE"): unshare_delete,
    }
    try:
        samples = common.in_turns({key: (lambda fn=fn: timed(fn)) for key, fn in ops.items()}, n, warmup=2)
    finally:
        for way, made in list(pending.items()):
            if way == "cli":
                subprocess.run([common.TIMENS, "delete", made], capture_output=True)
            elif way == "api":
                made.delete()
            else:
                subprocess.run(["umount", made], capture_output=True)
        shutil.rmtree(peer_dir, ignore_errors=True)
        ns_dir = os.path.join(rundir.name, "ns")
        leftovers = os.listdir(ns_dir) if os.path.isdir(ns_dir) else []
        rundir.cleanup()
    if leftovers:
        raise SystemExit(f"left behind in the run directory: {leftovers}")

    med = common.medians(samples)
    ways = ["timens CLI", "timens API", "unshare --time=FILE"]
    operations = list(dict.fromkeys(op for op, _ in ops))
    lines = [
        "# Named namespaces: create and delete",
        "",
        common.machine(),
        f"Median ms per operation (operations per second) of {n} each, in turns, after 2 warm-up turns.",
        "",
        "| operation | " + " | ".join(ways) + " |",
        "|---|" + "---:|" * len(ways),
    ]
    for op in operations:
        cells = [f"{med[op, w]:.1f} ({1000 / med[op, w]:.0f}/s)" if (op, w) in med else "-" for w in ways]
        lines.append(f"| `{op}` | " + " | ".join(cells) + " |")
    publish("\n".join(lines) + "\n", "create")


if __name__ == "__main__":
    main()
