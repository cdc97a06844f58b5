"""What the benchmarks share: the programs under test, C builds, timing in
turns, and namespaces made in bulk that never outlive a benchmark.

Every figure is a median over samples taken in turns (A B C A B C ...), so
drift in the load of this shared machine hits every variant alike.
"""
import argparse
import collections
import functools
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
NATIVE = ROOT / "src" / "timens" / "native"
LIBTIMENS = NATIVE / "libtimens.so"
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
PYTHON = sys.executable
# What a user runs: the console script pip installed next to this interpreter.
TIMENS = str(Path(PYTHON).parent / "timens")
UNSHARE = shutil.which("unshare") or "unshare"
LSNS = shutil.which("lsns") or "lsns"
QUICK_ENV = "TIMENS_BENCH_QUICK"  # how run_all.py asks every benchmark for a quick run


def parser(doc):
    """An argument parser with the --quick switch every benchmark takes."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--quick", action="store_true", default=os.environ.get(QUICK_ENV) == "1",
                   help=f"fewer samples: a smoke run, noisier figures ({QUICK_ENV}=1 does the same)")
    return p


@functools.cache
def machine():
    """One line saying where the figures come from; prepare() calls it first,
    so that the load it gives is the load before the benchmark added its own."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0]
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs (load {load:.1f} at start), "
            f"Linux {platform.release()}, Python {platform.python_version()}")


def prepare():
    """What every benchmark does first: let SIGTERM unwind `with` blocks (and
    so clean up) as Ctrl-C does, keep whatever timens writes out of the real
    run directory, and compile timens's bytecode. Returns that private run
    directory (a TemporaryDirectory)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    machine()
    tmp = tempfile.TemporaryDirectory(prefix="timens-bench-")
    os.environ["TIMENS_RUNDIR"] = tmp.name
    # Measure what users get: an installed package runs from compiled bytecode.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "src" / "timens")], check=True)
    return tmp


def build(name, workdir, *flags):
    """Compile bench/NAME.c into WORKDIR (with FLAGS such as -static); returns the program's path."""
    out = Path(workdir) / "".join([name, *(f.replace("-", "_") for f in flags)])
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-I", str(NATIVE), *flags, "-o", str(out),
                    str(BENCH / f"{name}.c")], check=True)
    return str(out)


def spawn_wait(argv, env=None):
    """Run ARGV to completion with output discarded; the cheapest way Python has."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.posix_spawn(argv[0], argv, os.environ if env is None else env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                           (os.POSIX_SPAWN_DUP2, devnull, 1)])
    finally:
        os.close(devnull)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (status {status})")
    return usage


Timing = collections.namedtuple("Timing", "wall cpu")


def timed(argv, env=None, tries=1):
    """Timing of one run of ARGV in ms: wall, and CPU (user + system, of it and
    the children it waited for), which time spent descheduled on a busy
    machine does not inflate. With TRIES > 1, a failed run is run again
    (lsns fails now and then when a process ends while it looks)."""
    for left in range(tries - 1, -1, -1):
        start = time.perf_counter_ns()
        try:
            usage = spawn_wait(argv, env)
        except RuntimeError:
            if not left:
                raise
            continue
        return Timing((time.perf_counter_ns() - start) / 1e6, (usage.ru_utime + usage.ru_stime) * 1e3)


def in_turns(variants, n, warmup=1):
    """{label: [samples]}: call each variant's function N times, in turns."""
    samples = {label: [] for label in variants}
    for i in range(warmup + n):
        for label, fn in variants.items():
            value = fn()
            if i >= warmup:
                samples[label].append(value)
    return samples


def medians(samples):
    return {label: statistics.median(values) for label, values in samples.items()}


def ratio(a, b):
    """Median of the ratios of samples taken in the same turn: steadier than
    a ratio of medians when the load on the machine drifts."""
    return statistics.median(x / y for x, y in zip(a, b))


def spread(values):
    """Median and the interquartile range, as 'm (q1-q3)'."""
    if len(values) < 4:
        return f"{statistics.median(values):.1f}"
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{statistics.median(values):.1f} ({q1:.1f}-{q3:.1f})"


class Namespaces:
    """N time namespaces, each with one sleeping process (bench/nsholder.c).

    They go away on leaving the `with` block, on Ctrl-C, on SIGTERM, and
    even if this process is killed: nsholder dies with its parent and its
    children with it.
    """

    def __init__(self, n, workdir, monotonic_sec=12345):
        self.n = n
        self.argv = [build("nsholder", workdir), str(n), str(monotonic_sec)]
        self.proc = None

    def __enter__(self):
        if self.n == 0:
            return self
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if self.proc.stdout.readline() != b"ready\n":
            self.__exit__()
            raise RuntimeError(f"nsholder could not make {self.n} namespaces")
        return self

    def inodes(self):
        """The namespaces' inodes (those of nsholder's children)."""
        pid = self.proc.pid
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [os.stat(f"/proc/{child}/ns/time").st_ino for child in f.read().split()]

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
