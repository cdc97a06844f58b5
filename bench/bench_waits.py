#!/usr/bin/env python3
"""Benchmark: what a waiting thread pays so that live changes reach it.

Not a test. A waiter that cannot watch the page (epoll_wait, a condition
wait) is cut into slices of 100 ms while a page exists (waits.c). This
measures, for one idle waiter over a few seconds, how often it wakes up
(voluntary context switches) and how much CPU time that costs
(/proc/PID/schedstat), natively and with libtimens on a page:

- epoll 60 s: `select.epoll().poll(60)`, one epoll_wait with a timeout;
- epoll forever: `poll()` without a timeout, which stays one kernel wait
  unless the process has armed timers;
- Event.wait 60 s: a semaphore wait with a timeout (sem_clockwait);
- sleep 60 s: `time.sleep`, a futex wait on the page: no slices.

    .venv/bin/python bench/bench_waits.py [--seconds 5]
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))

from timens.page import ClockPage  # noqa: E402
from report import publish  # noqa: E402

LIBTIMENS = ROOT / "src" / "timens" / "native" / "libtimens.so"
WAITERS = {
    "epoll 60 s": "import select; select.epoll().poll(60)",
    "epoll forever": "import select; select.epoll().poll()",
    "Event.wait 60 s": "import threading; threading.Event().wait(60)",
    "sleep 60 s": "import time; time.sleep(60)",
}


def counters(pid):
    """(voluntary context switches, ns on CPU) of every thread of pid."""
    switches = cpu = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        status = Path(f"/proc/{pid}/task/{task}/status").read_text()
        switches += int(status.split("voluntary_ctxt_switches:")[1].split()[0])
        cpu += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
    return switches, cpu


def measure(code, env, seconds):
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        time.sleep(1)  # past the interpreter's start
        s0, c0 = counters(proc.pid)
        time.sleep(seconds)
        s1, c1 = counters(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    return (s1 - s0) / seconds, (c1 - c0) / seconds / 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "TIMENS_PAGE")}
    with tempfile.TemporaryDirectory() as tmp:
        page = ClockPage.create(Path(tmp) / "page", 86400 * 10**9)
        page.close()
        variants = {"native": base,
                    "libtimens": dict(base, LD_PRELOAD=str(LIBTIMENS), TIMENS_PAGE=str(page.path))}
        rows = []
        for name, code in WAITERS.items():
            cells = []
            for env in variants.values():
                wakeups, cpu_us = measure(code, env, args.seconds)
                cells.append(f"{wakeups:.1f} /s, {cpu_us:.0f} us/s")
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join([
        f"# Cost of an idle waiter, {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        f"{platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs; one idle waiter "
        f"over {args.seconds:g} s: wake-ups per second, CPU time per second.",
        "",
        "| waiter | " + " | ".join(variants) + " |",
        "|---|" + "---|" * len(variants),
        *rows,
        "",
    ])
    publish(text, "waits")


if __name__ == "__main__":
    main()
