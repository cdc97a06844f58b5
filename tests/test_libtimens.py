"""libtimens.so: REALTIME from the clock page, in real processes.

These tests drive the library directly, as ``timens run --realtime`` does:
make a page with ClockPage.create, then run a program with
LD_PRELOAD=libtimens.so and TIMENS_PAGE=<page>. The C probes in
tests/probes/rt_*.c print what they read, bracketed by raw host reads.

No test may move the machine's clock: every settime runs without
CAP_SYS_TIME (setpriv) or as nobody, so a libtimens bug fails instead.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import write_at

import timens
from timens import kernel
from timens.page import NSEC_PER_SEC, OFF_MAGIC, OFF_REALTIME_SEC, OFF_SEQ, OFF_VERSION, ClockPage

LIB = Path(timens.__file__).parent / "native" / "libtimens.so"
DAY = 86400 * NSEC_PER_SEC
YEAR = 365 * DAY
# Odd nanoseconds make a mix-up of seconds and nanoseconds visible.
OFFSETS = {
    "+100y": 100 * YEAR + 123_456_789,
    "-100y": -100 * YEAR - 987_654_321,
    "zero": 0,
}
PROGRAM_OFFSETS = {"+100y": OFFSETS["+100y"], "-40y": -40 * YEAR - 987_654_321}
WARNING = "timens: "
CAP_SYS_TIME = 25
NO_SYS_TIME = ["setpriv", "--bounding-set", "-sys_time", "--inh-caps=-sys_time"]


def preload_env(page, **extra):
    env = dict(os.environ, LD_PRELOAD=str(LIB), TIMENS_PAGE=str(page))
    env.update(extra)
    return env


def run_in(page, argv, timeout=30, prefix=(), **kwargs):
    """Run argv with libtimens preloaded on PAGE; text output captured.

    PREFIX (e.g. setpriv ...) runs first, without libtimens.
    """
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    if prefix:
        argv = [*prefix, "env", f"LD_PRELOAD={LIB}", f"TIMENS_PAGE={page}", *argv]
    return subprocess.run(list(map(str, argv)), env=preload_env(page) if not prefix else None,
                          timeout=timeout, **kwargs)


def parse_lines(stdout):
    """"key v1 v2 ..." lines as {key: [ints or words]}."""
    out = {}
    for line in stdout.splitlines():
        key, *values = line.split()
        out[key] = [int(v) if v.lstrip("-").isdigit() else v for v in values]
    return out


def host_jump():
    """REALTIME - MONOTONIC of this process: changes only if the host clock is set."""
    return time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_MONOTONIC)


@pytest.fixture
def make_page(tmp_path):
    pages = []

    def make(offset_ns, name="page", mode=0o644, directory=None):
        page = ClockPage.create(Path(directory or tmp_path) / name, offset_ns, mode=mode)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.close()


@pytest.fixture(autouse=True)
def host_clock_untouched():
    """Every test: the machine's REALTIME did not jump meanwhile."""
    before = host_jump()
    yield
    assert abs(host_jump() - before) < NSEC_PER_SEC // 2, "the host REALTIME clock moved"


def test_library_exports_only_interposers():
    """The library's own helpers stay hidden; the interposers are visible."""
    out = subprocess.run(["nm", "-D", "--defined-only", str(LIB)], capture_output=True,
                         text=True, check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert {"clock_gettime", "gettimeofday", "time", "clock_settime",
            "pthread_cond_timedwait", "timerfd_settime"} <= names
    # One entry of its own: switching pages (control.c), for processes that fork workers.
    assert {name for name in names if name.startswith("timens_")} == {"timens_attach_page"}


def test_glibc_keeps_condvar_clock_where_libtimens_looks(compile_probe):
    """deadlines.c reads bit value 2 of __wrefs as 'monotonic condvar'."""
    out = subprocess.run([compile_probe("rt_condclock")], capture_output=True, text=True,
                         check=True).stdout
    assert parse_lines(out) == {"initializer": [0], "default": [0], "realtime": [0],
                                "monotonic": [2]}


# --- reads ---------------------------------------------------------------------

# name -> (gets the offset, how far below host the value may be: coarse
# clocks lag up to a tick, and some calls truncate).
READS = {
    "REALTIME": (True, 0),
    "REALTIME_COARSE": (True, 20_000_000),
    "REALTIME_ALARM": (True, 0),
    "TAI": (True, 0),
    "gettimeofday": (True, 1_000),
    "time": (True, NSEC_PER_SEC + 20_000_000),
    "timespec_get": (True, 0),
    "ftime": (True, 1_000_000),
    "MONOTONIC": (False, 0),
    "MONOTONIC_RAW": (False, 0),
    "BOOTTIME": (False, 0),
    "PROCESS_CPUTIME": (False, 0),
    "THREAD_CPUTIME": (False, 0),
}


@pytest.fixture(scope="module")
def reads(compile_probe, tmp_path_factory):
    """rt_reads output per offset name, one probe run each."""
    probe = compile_probe("rt_reads")
    directory = tmp_path_factory.mktemp("reads")
    results = {}
    for name, offset in OFFSETS.items():
        with ClockPage.create(directory / name, offset) as page:
            proc = run_in(page.path, [probe])
        results[name] = proc
    return results


def check_bracketed(values, offset, slack, what):
    before, value, after = values
    assert before + offset - slack <= value <= after + offset, (
        f"{what}: read {value}, host was [{before}, {after}], offset {offset}: "
        f"off by {value - before - offset} ns")


@pytest.mark.parametrize("offset_name", OFFSETS)
@pytest.mark.parametrize("read", READS)
def test_read(reads, read, offset_name):
    proc = reads[offset_name]
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    values = parse_lines(proc.stdout)[read]
    if values[0] == "skip":
        # This machine cannot read the clock at all (REALTIME_ALARM needs an
        # RTC): then libtimens must give exactly the kernel's own answer.
        native = subprocess.run([str(proc.args[0])], capture_output=True, text=True)
        assert parse_lines(native.stdout)[read] == values, "libtimens changed the kernel's error"
        return
    shifted, slack = READS[read]
    check_bracketed(values, OFFSETS[offset_name] if shifted else 0, slack, read)


def test_reads_stay_fast(make_page, compile_probe):
    """100k rounds of every read: no syscall or lock hiding in the read path."""
    page = make_page(OFFSETS["+100y"])
    start = time.monotonic()
    proc = run_in(page.path, [compile_probe("rt_reads"), 100_000], timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    # 13 intercepted reads and ~26 raw syscalls a round; generous.
    assert time.monotonic() - start < 30


def test_reads_before_the_constructor_get_host_time(make_page, compile_probe):
    """Another library's constructor, run before libtimens's, reads host time."""
    early = compile_probe("rt_early", "-shared", "-fPIC")
    page = make_page(OFFSETS["+100y"])
    env = preload_env(page.path, LD_PRELOAD=f"{LIB} {early}")
    proc = subprocess.run([compile_probe("rt_reads")], env=env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    got = parse_lines(proc.stdout)
    check_bracketed(got["early"], 0, 0, "read from an earlier constructor")
    check_bracketed(got["REALTIME"], OFFSETS["+100y"], 0, "REALTIME in main")


# --- absolute deadlines ---------------------------------------------------------

# case -> what the call returns when the deadline passes
DEADLINES = {
    "clock_nanosleep_realtime": "0",
    "clock_nanosleep_tai": "0",
    "clock_nanosleep_alarm": "0",
    "clock_nanosleep_monotonic": "0",
    "clock_nanosleep_relative": "0",
    "timerfd_realtime": "0",
    "timerfd_alarm": "0",
    "timerfd_monotonic": "0",
    "timer_realtime": "0",
    "timer_tai": "0",
    "timer_monotonic": "0",
    "cond_timedwait": "ETIMEDOUT",
    "cond_timedwait_monotonic": "ETIMEDOUT",
    "cond_clockwait_realtime": "ETIMEDOUT",
    "cond_clockwait_monotonic": "ETIMEDOUT",
    "sem_timedwait": "ETIMEDOUT",
    "sem_clockwait": "ETIMEDOUT",
    "mutex_timedlock": "ETIMEDOUT",
    "mutex_clocklock": "ETIMEDOUT",
    "rwlock_timedrdlock": "ETIMEDOUT",
    "rwlock_timedwrlock": "ETIMEDOUT",
    "rwlock_clockrdlock": "ETIMEDOUT",
    "rwlock_clockwrlock": "ETIMEDOUT",
    "mq_timedsend": "ETIMEDOUT",
    "mq_timedreceive": "ETIMEDOUT",
    "pthread_timedjoin_np": "ETIMEDOUT",
    "pthread_clockjoin_np": "ETIMEDOUT",
}


@pytest.fixture(scope="module")
def deadlines(compile_probe, tmp_path_factory):
    """Every (case, offset) probe at once: they sleep, so this takes ~1 s."""
    probe = compile_probe("rt_deadline")
    directory = tmp_path_factory.mktemp("deadlines")
    pages = {name: ClockPage.create(directory / name, off) for name, off in OFFSETS.items()}
    running = {
        (case, name): subprocess.Popen([str(probe), case], env=preload_env(page.path),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for case in DEADLINES for name, page in pages.items()
    }
    results = {}
    for key, proc in running.items():
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            out += "\nhung"
        results[key] = (proc.returncode, out, err)
    for page in pages.values():
        page.close()
    results["probe"] = probe
    return results


@pytest.mark.parametrize("offset_name", OFFSETS)
@pytest.mark.parametrize("case", DEADLINES)
def test_deadline_one_second_ahead_waits_one_second(deadlines, case, offset_name):
    returncode, out, err = deadlines[case, offset_name]
    assert "hung" not in out, f"{case} with offset {offset_name} did not return in 20 s"
    assert returncode == 0 and err == "" and "error" not in out, (out, err)
    got = parse_lines(out)
    if "skip" in got:
        # The kernel refuses this clock here (no RTC for REALTIME_ALARM):
        # libtimens must refuse it the same way, not convert or hide it.
        native = subprocess.run([str(deadlines["probe"]), case], capture_output=True, text=True, timeout=20)
        assert parse_lines(native.stdout) == got, "libtimens changed the kernel's answer"
        return
    assert list(map(str, got["ret"])) == [DEADLINES[case]]
    elapsed = got["elapsed"][0] / NSEC_PER_SEC
    assert 0.8 <= elapsed <= 3, f"{case} at offset {offset_name} waited {elapsed:.3f} s"


# --- settime --------------------------------------------------------------------

@pytest.fixture(scope="module")
def no_sys_time():
    """argv prefix that runs a command as root without CAP_SYS_TIME."""
    assert shutil.which("setpriv"), "setpriv (util-linux) is missing"
    status = subprocess.run([*NO_SYS_TIME, "cat", "/proc/self/status"], capture_output=True,
                            text=True, check=True).stdout
    eff = int(next(line for line in status.splitlines() if line.startswith("CapEff")).split()[1], 16)
    assert not eff & (1 << CAP_SYS_TIME), "setpriv did not drop CAP_SYS_TIME; refusing to go on"
    return NO_SYS_TIME


@pytest.mark.parametrize("how", ["clock_settime", "settimeofday", "stime"])
def test_settime_moves_the_namespace_only(make_page, compile_probe, no_sys_time, how):
    page = make_page(DAY)
    generation = page.generation
    target = time.time_ns() // NSEC_PER_SEC + 50 * 365 * 86400  # 50 years ahead
    proc = run_in(page.path, [compile_probe("rt_settime"), how, target], prefix=no_sys_time)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    got = parse_lines(proc.stdout)
    assert got["ret"] == [0, 0]
    assert abs(got["now"][0] - target * NSEC_PER_SEC) < 2 * NSEC_PER_SEC
    assert abs(got["host"][0] - time.time_ns()) < 2 * NSEC_PER_SEC
    assert abs(page.read_realtime_offset() - (target * NSEC_PER_SEC - time.time_ns())) \
        < 2 * NSEC_PER_SEC
    assert page.generation == generation + 1


def test_date_s_sets_the_namespace_date(make_page, no_sys_time):
    page = make_page(0)
    proc = run_in(page.path, ["date", "-s", "@4000000000"], prefix=no_sys_time)
    assert proc.returncode == 0, proc.stderr
    assert abs(page.read_realtime_offset() - (4_000_000_000 * NSEC_PER_SEC - time.time_ns())) \
        < 2 * NSEC_PER_SEC
    assert int(run_in(page.path, ["date", "+%s"]).stdout) - 4_000_000_000 in range(0, 3)


@pytest.mark.parametrize("how, result", [
    ("adjtimex_step", "EPERM"),    # a step or slew never reaches the kernel
    ("adjtime", "EPERM"),
    ("clock_settime_monotonic", "EINVAL"),  # passed through; the kernel refuses
    ("settimeofday_tz", "0"),      # timezone only: accepted, kept from the kernel
])
def test_other_settime_calls(make_page, compile_probe, no_sys_time, how, result):
    page = make_page(DAY)
    proc = run_in(page.path, [compile_probe("rt_settime"), how, 1000], prefix=no_sys_time)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert str(parse_lines(proc.stdout)["ret"][1]) == result
    assert page.read_realtime_offset() == DAY


@pytest.fixture
def shared_dir():
    """A directory nobody can read, outside pytest's private tmp."""
    path = Path(tempfile.mkdtemp(prefix="timens-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_settime_on_read_only_page_is_eperm(make_page, compile_probe, shared_dir):
    page = make_page(DAY, mode=0o444, directory=shared_dir)
    probe = shared_dir / "rt_settime"
    shutil.copy(compile_probe("rt_settime"), probe)
    target = time.time_ns() // NSEC_PER_SEC + 3600
    proc = subprocess.run(
        ["runuser", "-u", "nobody", "--", "env", f"LD_PRELOAD={LIB}", f"TIMENS_PAGE={page.path}",
         str(probe), "clock_settime", str(target)],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    got = parse_lines(proc.stdout)
    assert got["ret"] == [-1, "EPERM"]
    assert abs(got["now"][0] - got["host"][0] - DAY) < NSEC_PER_SEC  # unchanged
    assert page.read_realtime_offset() == DAY


def test_settime_without_page_is_eperm(tmp_path, compile_probe, no_sys_time):
    proc = run_in(tmp_path / "missing", [compile_probe("rt_settime"), "clock_settime",
                                         4_000_000_000], prefix=no_sys_time)
    assert proc.returncode == 0
    assert parse_lines(proc.stdout)["ret"] == [-1, "EPERM"]
    assert proc.stderr.count(WARNING) == 1


# --- missing and broken pages ---------------------------------------------------

def broken_page(tmp_path, kind):
    path = tmp_path / "page"
    if kind == "missing":
        return path
    ClockPage.create(path, 100 * YEAR).close()
    if kind == "bad_magic":
        write_at(path, OFF_MAGIC, b"XXXX")
    elif kind == "bad_version":
        write_at(path, OFF_VERSION, (999).to_bytes(4, "little"))
    elif kind == "short":
        os.truncate(path, 100)
    elif kind == "stuck_writer":
        write_at(path, OFF_SEQ, (7).to_bytes(4, "little"))  # odd: writer died inside
    elif kind == "directory":
        path.unlink()
        path.mkdir()
    return path


@pytest.mark.parametrize("kind", ["missing", "bad_magic", "bad_version", "short", "directory"])
def test_broken_page_gives_host_time_and_one_warning(tmp_path, compile_probe, kind):
    page = broken_page(tmp_path, kind)
    start = time.monotonic()
    proc = run_in(page, [compile_probe("rt_reads"), 1000], timeout=30)
    assert time.monotonic() - start < 10
    assert proc.returncode == 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(WARNING) and "host time" in lines[0], lines
    assert str(page) in lines[0]
    check_bracketed(parse_lines(proc.stdout)["REALTIME"], 0, 0, "REALTIME")


def test_page_stuck_from_the_start_keeps_its_offset(tmp_path, compile_probe):
    """A writer died inside before the program started: nothing consistent
    was ever seen, and the page's fields as they stand beat host time."""
    page = broken_page(tmp_path, "stuck_writer")
    proc = run_in(page, [compile_probe("rt_reads"), 1000], timeout=30)
    assert proc.returncode == 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "stopped mid-update" in lines[0] and "last consistent" in lines[0]
    check_bracketed(parse_lines(proc.stdout)["REALTIME"], 100 * YEAR, 0, "REALTIME")


def test_no_page_for_this_namespace_by_inode(rundir, compile_probe):
    """Without TIMENS_PAGE the page is looked up as <rundir>/pages/<inode>."""
    inode = os.stat("/proc/self/ns/time").st_ino
    env = dict(os.environ, LD_PRELOAD=str(LIB))
    env.pop("TIMENS_PAGE", None)
    probe = compile_probe("rt_reads")
    proc = subprocess.run([probe], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert proc.stderr.strip().endswith("REALTIME reads host time")
    assert f"{rundir}/pages/{inode}" in proc.stderr
    (rundir / "pages").mkdir(parents=True)
    with ClockPage.create(rundir / "pages" / str(inode), DAY):
        proc = subprocess.run([probe], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stderr == ""
    check_bracketed(parse_lines(proc.stdout)["REALTIME"], DAY, 0, "REALTIME")


# --- real programs --------------------------------------------------------------

PYTHON_DATETIME = "import datetime; print(datetime.datetime.now(datetime.timezone.utc).timestamp())"
PROGRAMS = {
    "date": (["date", "+%s"], None),
    "python-time": ([sys.executable, "-c", "import time; print(time.time())"], None),
    "python-datetime": ([sys.executable, "-c", PYTHON_DATETIME], None),
    "system-python": (["/usr/bin/python3", "-c", "import time; print(time.time())"], None),
    "perl": (["perl", "-e", "print time, qq(\\n)"], None),              # Debian: perl-base
    "node": (["node", "-e", "console.log(Date.now() / 1000)"], None),  # Debian: nodejs
    "tclsh": (["tclsh"], "puts [clock seconds]\n"),                    # Debian: tcl
}


@pytest.mark.parametrize("offset_name", PROGRAM_OFFSETS)  # perl prints times < 1970 unsigned
@pytest.mark.parametrize("program", PROGRAMS)
def test_program_reads_namespace_date(make_page, program, offset_name):
    argv, stdin = PROGRAMS[program]
    assert shutil.which(argv[0]), f"{argv[0]} is missing: `make test` installs it (Makefile DEBIAN_PACKAGES)"
    offset = PROGRAM_OFFSETS[offset_name]
    page = make_page(offset)
    before = time.time()
    proc = run_in(page.path, argv, input=stdin, timeout=60)
    after = time.time()
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    seen = float(proc.stdout.split()[0])
    assert before + offset / 1e9 - 1.5 <= seen <= after + offset / 1e9 + 0.5


# --- live change, consistency under writes ---------------------------------------

def test_live_change_reaches_every_reader(make_page, compile_probe):
    page = make_page(DAY)
    probe = compile_probe("rt_watch")
    readers = [subprocess.Popen([str(probe), str(DAY), str(-DAY)], env=preload_env(page.path),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(24)]
    try:
        for reader in readers:
            assert reader.stdout.readline() == "ready\n"
        page.set_realtime_offset(-DAY)
        for reader in readers:
            out, err = reader.communicate(timeout=20)
            assert reader.returncode == 0 and out == "seen\n" and err == "", (out, err)
    finally:
        for reader in readers:
            reader.kill()
            reader.wait()


def stress_readers(page, compile_probe, a, b, threads, seconds=3):
    """rt_stress processes reading PAGE for SECONDS; call the result when they end."""
    probe = compile_probe("rt_stress")
    readers = [subprocess.Popen([str(probe), str(seconds), str(threads), str(a), str(b)],
                                env=preload_env(page.path), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for reader in readers:
        assert reader.stdout.readline() == "ready\n"

    def running():
        return any(reader.poll() is None for reader in readers)

    def check():
        """Every read had one offset or the other: none torn, none host time."""
        for reader in readers:
            out, err = reader.communicate(timeout=10)
            assert reader.returncode == 0, err
            reads, _, seen_a, _, seen_b, _, torn = parse_lines(out)["reads"]
            assert torn == 0, out
            assert reads == seen_a + seen_b
            yield seen_a, seen_b, err

    return running, check


def test_no_torn_reads_while_a_writer_flips(make_page, compile_probe):
    a = 1000 * DAY + 123_456_789
    b = -1000 * DAY - 987_654_321
    page = make_page(a)
    running, check = stress_readers(page, compile_probe, a, b, threads=2)
    writes = 0
    while running():
        page.set_realtime_offset(b if writes % 2 == 0 else a)
        writes += 1
    assert writes > 1000
    for seen_a, seen_b, err in check():
        assert seen_a > 0 and seen_b > 0 and err == "", err


# --- runtimes' own waiting ------------------------------------------------------

PYTHON_WAITS = """
import json, queue, threading, time
def timed(fn):
    start = time.monotonic(); fn(); return time.monotonic() - start
cond = threading.Condition()
def cond_wait():
    with cond:
        cond.wait(0.3)
def queue_get():
    try:
        queue.Queue().get(timeout=0.3)
    except queue.Empty:
        pass
lock = threading.Lock(); lock.acquire()
wall = time.time()
print(json.dumps({
    "Event.wait": timed(lambda: threading.Event().wait(0.3)),
    "Condition.wait": timed(cond_wait),
    "Queue.get": timed(queue_get),
    "Lock.acquire": timed(lambda: lock.acquire(timeout=0.3)),
    "Semaphore.acquire": timed(lambda: threading.Semaphore(0).acquire(timeout=0.3)),
    "time.sleep": timed(lambda: time.sleep(0.3)),
    "wall": time.time() - wall,
}))
"""


@pytest.mark.parametrize("offset_name", ["+100y", "-100y"])
def test_python_waits_are_unchanged(make_page, offset_name):
    page = make_page(OFFSETS[offset_name])
    proc = run_in(page.path, [sys.executable, "-c", PYTHON_WAITS], timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    waits = json.loads(proc.stdout)
    assert 1.5 <= waits.pop("wall") <= 15
    for name, seconds in waits.items():
        assert 0.25 <= seconds <= 2, f"{name} waited {seconds:.3f} s"


# --- process plumbing -----------------------------------------------------------

def test_fork_exec_vfork_spawn_and_threads_keep_namespace_time(make_page, compile_probe):
    offset = OFFSETS["+100y"]
    page = make_page(offset)
    proc = run_in(page.path, [compile_probe("rt_inherit")])
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    got = parse_lines(proc.stdout)
    assert set(got) == {"main", "thread", "fork", "vfork_exec", "posix_spawn"}, proc.stdout
    for where, values in got.items():
        check_bracketed(values, offset, 0, where)


# --- past deadlines, timers across fork, the page's other clocks ------------------

def test_past_deadline_fires_at_once(make_page, compile_probe):
    """{0, 1} is long past in a namespace a day ahead: fire now, as natively
    (a {0, 0} would disarm the timer instead)."""
    page = make_page(DAY)
    proc = run_in(page.path, [compile_probe("rt_page"), "past"])
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert parse_lines(proc.stdout) == {"timerfd": ["fired"], "timer": ["fired"], "sleep": [0],
                                        "cond": ["ETIMEDOUT"]}


def test_forked_child_forgets_the_parents_timers(make_page, compile_probe):
    """The child's first timer gets the id of the parent's REALTIME one; it is
    a MONOTONIC timer all the same: 100 s left, not a day less (0)."""
    page = make_page(DAY)
    proc = run_in(page.path, [compile_probe("rt_page"), "forktimer"])
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert 98 <= parse_lines(proc.stdout)["left"][0] <= 100


class Reader:
    """rt_page lines: read the clocks whenever asked, in a live process."""

    def __init__(self, page, probe):
        self.proc = subprocess.Popen([str(probe), "lines"], env=preload_env(page),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def read(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        got = {}
        for line in iter(self.proc.stdout.readline, "end\n"):
            assert line, "the reader died"
            name, *values = line.split()
            got[name] = list(map(int, values))
        return got

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        return self.proc.returncode, self.proc.stderr.read()


@pytest.fixture
def reader(compile_probe):
    readers = []

    def start(page):
        readers.append(Reader(page, compile_probe("rt_page")))
        return readers[-1]

    yield start
    for r in readers:
        r.proc.kill()
        r.proc.wait()


def test_reader_keeps_its_offset_while_a_writer_is_stuck(make_page, reader, tmp_path):
    page = make_page(100 * YEAR)
    r = reader(page.path)
    check_bracketed(r.read()["REALTIME"], 100 * YEAR, 0, "REALTIME")
    # What a writer killed inside leaves: seq odd, one field already new.
    write_at(page.path, OFF_SEQ, (7).to_bytes(4, "little"))
    write_at(page.path, OFF_REALTIME_SEC, (-5).to_bytes(8, "little", signed=True))
    for _ in range(3):
        check_bracketed(r.read()["REALTIME"], 100 * YEAR, 0, "REALTIME")
    # The next write repairs the page; readers follow it again.
    page.set_realtime_offset(-DAY)
    check_bracketed(r.read()["REALTIME"], -DAY, 0, "REALTIME")
    returncode, err = r.close()
    assert returncode == 0
    lines = err.splitlines()
    assert len(lines) == 1 and "stopped mid-update" in lines[0] and "last consistent" in lines[0]
    seq = int.from_bytes(page.path.read_bytes()[OFF_SEQ:OFF_SEQ + 4], "little")
    assert seq % 2 == 0 and seq > 7


WRITER_LOOP = """
import sys
from timens.page import ClockPage
page = ClockPage.open(sys.argv[1])
a, b = int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
while True:
    page.set_realtime_offset(a)
    page.set_realtime_offset(b)
"""


def test_readers_survive_writers_killed_mid_write(make_page, compile_probe):
    """SIGKILL writers at random points while readers read: every read is one
    of the two offsets (never host time, never torn), the page stays usable."""
    import random

    a, b = 1000 * DAY + 123_456_789, -1000 * DAY - 987_654_321
    page = make_page(a)
    # Long enough for a few writers even when starting Python is slow (a
    # loaded machine); the loop stops after five kills.
    running, check = stress_readers(page, compile_probe, a, b, threads=1, seconds=6)
    kills = 0
    while running() and kills < 5:
        writer = subprocess.Popen([sys.executable, "-c", WRITER_LOOP, str(page.path), str(a), str(b)],
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline() == "ready\n"
        time.sleep(random.uniform(0, 0.05))
        writer.kill()
        writer.wait()
        kills += 1
    assert kills >= 2
    assert len(list(check())) == 2
    page.set_realtime_offset(5 * DAY)  # repairs a page left odd, if any
    assert page.read_realtime_offset() == 5 * DAY


def test_signal_handlers_never_run_inside_a_write(make_page, compile_probe, no_sys_time):
    """The writer blocks signals while seq is odd: a handler that reads the
    clock in the writing thread never finds its own write half done."""
    page = make_page(DAY)
    proc = run_in(page.path, [compile_probe("rt_page"), "sigwrite"], prefix=no_sys_time)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    writes, _, handled = parse_lines(proc.stdout)["writes"]
    assert writes > 1000 and handled > 1000, proc.stdout


# Whole seconds (time() adds them to the vDSO's time()), and not.
@pytest.mark.parametrize("offset", [DAY, -DAY, DAY + 999_999_999, -DAY + 1])
def test_time_turns_over_with_the_namespace_second(make_page, reader, offset):
    """time() is the namespace's coarse REALTIME, truncated: never a second
    early or late, whatever the offset's nanoseconds."""
    r = reader(make_page(offset).path)
    for _ in range(200):
        before, value, after = r.read()["time"]
        # The coarse clock lags REALTIME by up to a tick (4 ms at HZ=250).
        low = (before + offset - 20_000_000) // NSEC_PER_SEC * NSEC_PER_SEC
        assert low <= value <= after + offset, (before, value, after)
    assert r.close() == (0, "")


def test_advance_moves_every_clock_and_freeze_stops_realtime(make_page, reader):
    page = make_page(DAY)
    r = reader(page.path)
    before = r.read()
    page.advance(3600 * NSEC_PER_SEC)
    after = r.read()
    check_bracketed(after["REALTIME"], DAY + 3600 * NSEC_PER_SEC, 0, "REALTIME")
    # MONOTONIC_RAW too: time that passed passed for every MONOTONIC flavour.
    for clock in ("MONOTONIC", "MONOTONIC_RAW", "BOOTTIME"):
        check_bracketed(after[clock], 3600 * NSEC_PER_SEC, 0, clock)
        check_bracketed(before[clock], 0, 0, clock)
    instant = 2_000_000_000 * NSEC_PER_SEC + 5
    page.freeze(instant)
    assert [r.read()["REALTIME"][1] for _ in range(3)] == [instant] * 3
    assert r.read()["time"][1] == 2_000_000_000 * NSEC_PER_SEC
    start = time.time_ns()
    page.set_realtime_offset(-DAY)  # while frozen: moves the frozen instant, stays frozen
    end = time.time_ns()
    first, second = r.read()["REALTIME"], r.read()["REALTIME"]
    assert first[1] == second[1] and start - DAY <= first[1] <= end - DAY
    start = time.time_ns()
    page.unfreeze()
    got = r.read()["REALTIME"]
    # Runs on from the frozen instant: no jump either way.
    assert first[1] <= got[1] <= first[1] + (got[2] - start)
    assert r.close() == (0, "")


@pytest.mark.parametrize("case", ["clock_nanosleep_monotonic", "timerfd_monotonic",
                                  "timer_monotonic", "cond_timedwait_monotonic",
                                  "cond_clockwait_monotonic", "clock_nanosleep_realtime",
                                  "timerfd_realtime", "timer_realtime"])
def test_deadlines_follow_advance_and_freeze(make_page, compile_probe, case):
    """Absolute deadlines one second ahead on a page advanced by a day (and
    frozen): the page's offsets come off, so they wait a second, not a day."""
    page = make_page(DAY)
    page.advance(DAY)
    page.freeze()
    proc = run_in(page.path, [compile_probe("rt_deadline"), case], timeout=30)
    assert proc.returncode == 0 and proc.stderr == "" and "error" not in proc.stdout, proc.stdout
    got = parse_lines(proc.stdout)
    assert got["ret"] == [0] or got["ret"] == ["ETIMEDOUT"], got
    assert 0.9 * NSEC_PER_SEC <= got["elapsed"][0] <= 10 * NSEC_PER_SEC, got


def test_values_near_the_ends_of_time_saturate(tmp_path, compile_probe):
    top = 2**63 - 1
    page = ClockPage.create(tmp_path / "page", 0)
    page.advance((top // 2) * NSEC_PER_SEC)
    page.advance((top // 2) * NSEC_PER_SEC)  # every offset just below the top
    page.close()
    proc = run_in(page.path, [compile_probe("rt_page"), "extreme"])
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    got = parse_lines(proc.stdout)
    assert got["REALTIME"][0] == top and got["gettimeofday"][0] == top and got["time"] == [top]
    assert got["MONOTONIC"][0] == top and got["BOOTTIME"][0] == top


@pytest.mark.parametrize("seed", range(5))
def test_garbage_page_never_crashes_its_host(tmp_path, compile_probe, seed):
    """Any bytes after a valid header (seq even): the program runs and reads."""
    import random

    path = tmp_path / "page"
    ClockPage.create(path, 0).close()
    rng = random.Random(seed)
    write_at(path, OFF_SEQ + 4, bytes(rng.getrandbits(8) for _ in range(100 - OFF_SEQ - 4)))
    write_at(path, OFF_SEQ, (2 * rng.getrandbits(20)).to_bytes(4, "little"))
    for case in ("extreme", "past"):
        proc = run_in(path, [compile_probe("rt_page"), case], timeout=60)
        assert proc.returncode == 0, (proc.stdout, proc.stderr)


@pytest.mark.parametrize("how", ["TIMENS_PAGE", "lookup"])
def test_fifo_where_the_page_belongs_does_not_hang(tmp_path, compile_probe, how):
    inode = os.stat("/proc/self/ns/time").st_ino
    rundir = tmp_path / "run"
    (rundir / "pages").mkdir(parents=True, mode=0o755)
    fifo = rundir / "pages" / str(inode)
    os.mkfifo(fifo, 0o600)
    env = dict(os.environ, LD_PRELOAD=str(LIB))
    if how == "TIMENS_PAGE":
        env["TIMENS_PAGE"] = str(fifo)
    else:
        env.pop("TIMENS_PAGE", None)
        env["TIMENS_RUNDIR"] = str(rundir)
    proc = subprocess.run([compile_probe("rt_reads")], env=env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0
    assert proc.stderr.count(WARNING) == 1 and "not a regular file" in proc.stderr, proc.stderr
    check_bracketed(parse_lines(proc.stdout)["REALTIME"], 0, 0, "REALTIME")


def test_page_of_another_namespace_is_ignored(tmp_path, compile_probe):
    """A page carries the kernel's id of its namespace; a page left behind
    by a namespace whose inode was reused is not this one's."""
    fd = os.open("/proc/self/ns/time", os.O_RDONLY)
    try:
        own = kernel.ns_id(fd)
    finally:
        os.close(fd)
    assert own != 0, "this kernel has NS_GET_ID (Linux 6.12+)"
    probe = compile_probe("rt_reads")
    with ClockPage.create(tmp_path / "stale", DAY, ns_id=own + 1000) as stale, \
            ClockPage.create(tmp_path / "own", DAY, ns_id=own) as mine:
        proc = run_in(stale.path, [probe])
        assert proc.returncode == 0
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and "another time namespace" in lines[0], lines
        check_bracketed(parse_lines(proc.stdout)["REALTIME"], 0, 0, "REALTIME")
        proc = run_in(mine.path, [probe])
        assert proc.returncode == 0 and proc.stderr == ""
        check_bracketed(parse_lines(proc.stdout)["REALTIME"], DAY, 0, "REALTIME")
