"""Waits already under way follow live changes of the clock page.

Each waiter (tests/probes/rt_wake.c, and asyncio.sleep in Python) waits
for a deadline 30 minutes ahead in namespace time. Once every waiter is
asleep in the kernel, the page is moved: an advance of an hour must end
every one of them within seconds, a REALTIME set only those on REALTIME.
The bound of WITHIN seconds is functional (they would otherwise sleep 30
minutes), not a benchmark.

No test may move the machine's clock: settime inside runs without
CAP_SYS_TIME (setpriv), so a libtimens bug fails instead.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_libtimens import host_clock_untouched  # noqa: F401  (autouse: the host clock never moves)

import timens
from timens.page import NSEC_PER_SEC, ClockPage

LIB = Path(timens.__file__).parent / "native" / "libtimens.so"
HOUR = 3600 * NSEC_PER_SEC
WITHIN = 15  # seconds
NO_SYS_TIME = ["setpriv", "--bounding-set", "-sys_time", "--inh-caps=-sys_time"]

ASYNCIO_SLEEP = """
import asyncio, time
async def main():
    print("ready", flush=True)
    start = time.monotonic()
    await asyncio.sleep(1800)
    print("ret 0")
    print("slept", round((time.monotonic() - start) * 1e9))
asyncio.run(main())
"""

# case -> what it returns after an advance of an hour
ADVANCE = {
    "sleep_abs_monotonic": "0",
    "sleep_abs_realtime": "0",
    "sleep_abs_boottime": "0",
    "sleep_rel_monotonic": "0",
    "sleep_rel_realtime": "0",
    "nanosleep": "0",
    "sleep": "0",
    "usleep": "0",
    "thrd_sleep": "0",
    "timerfd_abs_realtime_read": "expired1",
    "timerfd_abs_realtime_poll": "expired1",
    "timerfd_abs_realtime_epoll": "expired1",
    "timerfd_abs_monotonic_read": "expired1",
    "timerfd_abs_monotonic_epoll": "expired1",
    "timerfd_rel_monotonic_read": "expired1",
    # first expiry at 30 min, then every minute: 30 min later, 31 in all
    "timerfd_periodic": "expired31",
    # an advance moves REALTIME and MONOTONIC alike: time passed, nothing
    # was set (the kernel's test for a clock change), so no ECANCELED
    "timerfd_cancel_read": "expired1",
    "timerfd_cancel_poll": "expired1",
    "timerfd_cancel_epoll": "expired1",
    "posix_timer_abs_realtime": "fired",
    "posix_timer_rel_monotonic": "fired",
    "posix_timer_in_sleep": "fired",
    "posix_timer_sigwait": "fired",
    "cond_realtime": "ETIMEDOUT",
    "cond_monotonic": "ETIMEDOUT",
    "sem_realtime": "ETIMEDOUT",
    "timeout_poll": "0",
    "timeout_ppoll": "0",
    "timeout_epoll": "0",
    "timeout_select": "0",
    "timeout_pselect": "0",
    "asyncio": "0",
}

# After REALTIME moves an hour forward: only waits on REALTIME end.
SET_FORWARD = {
    "sleep_abs_realtime": "0",
    "timerfd_abs_realtime_epoll": "expired1",
    "timerfd_cancel_read": "ECANCELED",
    "posix_timer_abs_realtime": "fired",
    "cond_realtime": "ETIMEDOUT",
    "sem_realtime": "ETIMEDOUT",
}
NOT_REALTIME = ["sleep_abs_monotonic", "sleep_rel_realtime", "nanosleep", "timerfd_abs_monotonic_read",
                "timerfd_rel_monotonic_read", "posix_timer_rel_monotonic", "cond_monotonic", "timeout_epoll",
                "asyncio"]


def parse(stdout):
    out = {}
    for line in stdout.splitlines():
        key, *values = line.split()
        out[key] = values
    return out


def asleep(pid):
    """Every thread of pid is blocked in the kernel ('S')."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        states = [Path(f"/proc/{pid}/task/{t}/stat").read_text().rsplit(")", 1)[1].split()[0]
                  for t in tasks]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return all(state == "S" for state in states)


def start(page, cases, probe, prefix=()):
    """Start one waiter per case on PAGE (or as PREFIX places it); return
    them once all are waiting."""
    env = dict(os.environ, LD_PRELOAD=str(LIB), TIMENS_PAGE=str(page)) if page else None
    procs = {}
    for case in cases:
        argv = [sys.executable, "-c", ASYNCIO_SLEEP] if case == "asyncio" else [str(probe), case]
        procs[case] = subprocess.Popen([*prefix, *argv], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
    for case, proc in procs.items():
        line = proc.stdout.readline()
        assert line == "ready\n", f"{case}: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
    deadline = time.monotonic() + WITHIN
    while not all(asleep(p.pid) for p in procs.values()):
        assert time.monotonic() < deadline, "the waiters did not go to sleep"
        time.sleep(0.05)
    time.sleep(0.3)  # into the wait itself, past the last libc call before it
    return procs


def finish(procs, within=WITHIN):
    """{case: parsed output}, or None for those still waiting after WITHIN s."""
    results, deadline = {}, time.monotonic() + within
    for case, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            assert err == "", f"{case}: {err}"
            results[case] = parse(out)
        except subprocess.TimeoutExpired:
            results[case] = None
    return results


def stop(procs):
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture
def page(tmp_path):
    with ClockPage.create(tmp_path / "page", 0) as page:
        yield page


@pytest.fixture(scope="module")
def advanced(compile_probe, tmp_path_factory):
    """Every waiter at once, then one advance of an hour."""
    probe = compile_probe("rt_wake")
    with ClockPage.create(tmp_path_factory.mktemp("advance") / "page", 0) as page:
        procs = start(page.path, ADVANCE, probe)
        try:
            page.advance(HOUR)
            return finish(procs)
        finally:
            stop(procs)


def test_signals_end_sliced_waits_as_they_end_the_kernels(page, compile_probe):
    """A handled signal ends a sliced epoll_wait with EINTR, and a sliced
    timerfd read only without SA_RESTART, as it would the one kernel wait."""
    cases = ["signal_epoll", "signal_timerfd_restart", "signal_timerfd_eintr"]
    procs = start(page.path, cases, compile_probe("rt_wake"))
    try:
        for proc in procs.values():
            proc.send_signal(signal.SIGUSR1)
        ended = finish({case: procs[case] for case in ("signal_epoll", "signal_timerfd_eintr")})
        assert {case: got and got["ret"] for case, got in ended.items()} == {
            "signal_epoll": ["EINTR"], "signal_timerfd_eintr": ["EINTR"]}
        time.sleep(1)  # ten slices: time enough to end wrongly
        assert procs["signal_timerfd_restart"].poll() is None
        page.advance(HOUR)
        assert finish({"restart": procs["signal_timerfd_restart"]})["restart"]["ret"] == ["expired1"]
    finally:
        stop(procs)


def test_timers_tell_the_time_left_after_an_advance(page, compile_probe):
    """timerfd_gettime and timer_gettime: 2 h ahead, an hour advanced, an hour left."""
    env = dict(os.environ, LD_PRELOAD=str(LIB), TIMENS_PAGE=str(page.path))
    proc = subprocess.Popen([compile_probe("rt_wake"), "gettime"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        page.advance(HOUR)
        out, err = proc.communicate("go\n", timeout=WITHIN)
        got = parse(out)
        assert (proc.returncode, err) == (0, "")
        for timer in ("timerfd_left", "timer_left"):
            assert 3600 - 60 <= int(got[timer][0]) < 3600, (timer, got)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_fortified_builds_wake_too(page, compile_probe):
    """_FORTIFY_SOURCE builds read and poll through __read_chk and __poll_chk."""
    probe = compile_probe("rt_wake", "-O2", "-D_FORTIFY_SOURCE=2")
    imports = subprocess.run(["nm", "-D", "--undefined-only", str(probe)], capture_output=True, text=True,
                             check=True).stdout
    assert "__read_chk" in imports and "__poll_chk" in imports
    procs = start(page.path, ["timerfd_abs_realtime_read", "timerfd_abs_realtime_poll"], probe)
    try:
        page.advance(HOUR)
        ended = finish(procs)
        assert {case: got and got["ret"] for case, got in ended.items()} == {
            "timerfd_abs_realtime_read": ["expired1"], "timerfd_abs_realtime_poll": ["expired1"]}
    finally:
        stop(procs)


@pytest.mark.parametrize("case", ADVANCE)
def test_an_advance_ends_the_wait(advanced, case):
    got = advanced[case]
    assert got is not None, f"{case} still waits {WITHIN} s after an advance of an hour"
    assert got["ret"] == [ADVANCE[case]]


def test_asyncio_sees_the_whole_hour(advanced):
    """asyncio.sleep ended because its clock, time.monotonic, moved an hour."""
    assert int(advanced["asyncio"]["slept"][0]) >= HOUR


def test_a_realtime_set_ends_only_realtime_waits(page, compile_probe):
    procs = start(page.path, [*SET_FORWARD, *NOT_REALTIME], compile_probe("rt_wake"))
    try:
        page.set_realtime_offset(HOUR)
        ended = finish({case: procs[case] for case in SET_FORWARD})
        for case, want in SET_FORWARD.items():
            assert ended[case] is not None, f"{case} still waits after REALTIME moved an hour on"
            assert ended[case]["ret"] == [want], case
        # The REALTIME ones have ended; anything else would have ended by now too.
        time.sleep(1)  # ten slices: time enough to end wrongly
        assert [case for case in NOT_REALTIME if procs[case].poll() is not None] == []
    finally:
        stop(procs)


def test_a_realtime_set_back_cancels_but_keeps_deadlines(page, compile_probe):
    """Back an hour: TFD_TIMER_CANCEL_ON_SET fires, the deadlines are further away."""
    cases = ["timerfd_cancel_epoll", "timerfd_cancel_poll", "sleep_abs_realtime",
             "timerfd_abs_realtime_read", "cond_realtime"]
    procs = start(page.path, cases, compile_probe("rt_wake"))
    try:
        page.set_realtime_offset(-HOUR)
        ended = finish({case: procs[case] for case in cases[:2]})
        assert {case: got and got["ret"] for case, got in ended.items()} == {
            "timerfd_cancel_epoll": ["ECANCELED"], "timerfd_cancel_poll": ["ECANCELED"]}
        time.sleep(1)  # ten slices: time enough to end wrongly
        assert [case for case in cases[2:] if procs[case].poll() is not None] == []
        # ... and forward again past the deadline: the re-armed timers fire.
        page.set_realtime_offset(HOUR)
        ended = finish({case: procs[case] for case in cases[2:]})
        assert {case: got and got["ret"] for case, got in ended.items()} == {
            "sleep_abs_realtime": ["0"], "timerfd_abs_realtime_read": ["expired1"],
            "cond_realtime": ["ETIMEDOUT"]}
    finally:
        stop(procs)


def test_settime_inside_cancels_timerfds(page, compile_probe):
    """date -s inside (no CAP_SYS_TIME: it can only write the page) cancels
    TFD_TIMER_CANCEL_ON_SET timers of the namespace and fires the re-armed ones."""
    procs = start(page.path, ["timerfd_cancel_epoll", "timerfd_abs_realtime_epoll"],
                  compile_probe("rt_wake"))
    try:
        when = int(time.time()) + 2 * 3600
        date = subprocess.run([*NO_SYS_TIME, "env", f"LD_PRELOAD={LIB}", f"TIMENS_PAGE={page.path}",
                               "date", "-s", f"@{when}"], capture_output=True, text=True, timeout=30)
        assert date.returncode == 0, date.stderr
        ended = finish(procs)
        assert ended["timerfd_cancel_epoll"]["ret"] == ["ECANCELED"]
        assert ended["timerfd_abs_realtime_epoll"]["ret"] == ["expired1"]
    finally:
        stop(procs)


def test_a_frozen_realtime_holds_timers_until_unfrozen(page, compile_probe):
    """Freeze an hour ahead of the deadline: REALTIME waits end at once."""
    procs = start(page.path, ["sleep_abs_realtime", "timerfd_abs_realtime_epoll"], compile_probe("rt_wake"))
    try:
        page.freeze(time.clock_gettime_ns(time.CLOCK_REALTIME) + HOUR)
        ended = finish(procs)
        assert {case: got and got["ret"] for case, got in ended.items()} == {
            "sleep_abs_realtime": ["0"], "timerfd_abs_realtime_epoll": ["expired1"]}
    finally:
        stop(procs)


# Real programs waiting 30 minutes in their own ways, and how they exit
# when that time has passed. `timeout` arms a POSIX timer and waits in
# sigsuspend; 124 is its "timed out". Those that can say "ready" once their
# deadline is set do.
PROGRAMS = {
    "sleep": (["sleep", "1800"], 0),
    "timeout": (["timeout", "1800", "sleep", "7200"], 124),
    "perl": (["perl", "-e", "$| = 1; print \"ready\\n\"; sleep 1800"], 0),
    "tclsh": (["tclsh"], 0),
    "node": (["node", "-e", "setTimeout(() => {}, 1800 * 1000); console.log('ready')"], 0),
    "python threading.Event": ([sys.executable, "-c", "import threading; e = threading.Event(); "
                                "print('ready', flush=True); e.wait(1800)"], 0),
}
SAYS_READY = {"perl", "tclsh", "node", "python threading.Event"}


def test_real_programs_wake_after_an_advance(page):
    env = dict(os.environ, LD_PRELOAD=str(LIB), TIMENS_PAGE=str(page.path))
    procs = {name: subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
             for name, (argv, _) in PROGRAMS.items()}
    try:
        procs["tclsh"].stdin.write("puts ready; flush stdout; after 1800000\n")
        procs["tclsh"].stdin.close()
        for name in SAYS_READY:
            assert procs[name].stdout.readline() == "ready\n", name
        deadline = time.monotonic() + WITHIN
        while not all(asleep(p.pid) for p in procs.values()):
            assert time.monotonic() < deadline, "the programs did not go to sleep"
            time.sleep(0.05)
        time.sleep(0.5)  # sleep and timeout cannot say when their deadline is set
        page.advance(HOUR)
        deadline = time.monotonic() + WITHIN
        for name, proc in procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} still waits {WITHIN} s after an advance of an hour")
            assert (proc.returncode, proc.stderr.read()) == (PROGRAMS[name][1], ""), name
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if not stream.closed:
                    stream.close()


def test_waiters_under_kernel_offsets(rundir, compile_probe):
    """In a namespace whose kernel MONOTONIC and BOOTTIME are days ahead, the
    page's advance adds to those: waits hold until the advance, then end."""
    cases = ["sleep_abs_monotonic", "sleep_rel_monotonic", "sleep_abs_boottime", "timerfd_abs_monotonic_read",
             "cond_monotonic", "timeout_epoll"]
    procs = start("", cases, compile_probe("rt_wake"),
                  prefix=[sys.executable, "-m", "timens", "run", "--monotonic", "+3d", "--boottime", "+3d",
                          "--realtime", "+1d", "--"])
    try:
        time.sleep(1)  # ten slices: time enough to end wrongly
        assert [case for case, proc in procs.items() if proc.poll() is not None] == []
        pages = list((rundir / "pages").iterdir())
        assert len(pages) == len(cases)
        for path in pages:
            with ClockPage.open(path) as page:
                page.advance(HOUR)
        ended = finish(procs)
        assert {case: got and got["ret"] for case, got in ended.items()} == {
            "sleep_abs_monotonic": ["0"], "sleep_rel_monotonic": ["0"], "sleep_abs_boottime": ["0"],
            "timerfd_abs_monotonic_read": ["expired1"], "cond_monotonic": ["ETIMEDOUT"],
            "timeout_epoll": ["0"]}
    finally:
        stop(procs)


def test_asyncio_in_a_namespace_made_by_timens(timens, rundir):
    """asyncio.sleep(1800) under `timens run`, ended by an advance of its page."""
    proc = subprocess.Popen([sys.executable, "-m", "timens", "run", "--realtime", "+1d", "--",
                             sys.executable, "-c", ASYNCIO_SLEEP],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        pages = list((rundir / "pages").iterdir())
        assert len(pages) == 1
        time.sleep(0.5)
        with ClockPage.open(pages[0]) as page:
            page.advance(HOUR)
        out, err = proc.communicate(timeout=WITHIN)
        assert proc.returncode == 0, err
        assert int(parse(out)["slept"][0]) >= HOUR
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
