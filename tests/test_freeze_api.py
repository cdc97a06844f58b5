"""Freeze, unfreeze and advance through the Python API, read by real processes inside."""
import sys
import time

import pytest

import timens
from timens.travel import host_realtime_ns

NS = 10**9
HOUR = 3600 * NS
Y2030 = 1893456000 * NS  # 2030-01-01T00:00:00Z

READ = "import time; print(time.time_ns(), time.monotonic_ns(), time.clock_gettime_ns(time.CLOCK_BOOTTIME))"


def clocks(ns):
    """REALTIME, MONOTONIC, BOOTTIME as a Python process inside reads them."""
    out = ns.run([sys.executable, "-c", READ], capture_output=True, text=True, check=True).stdout
    return tuple(map(int, out.split()))


def test_frozen_at_creation_reads_one_instant_in_every_process(rundir):
    with timens.TimeNamespace.create(realtime="@2030-01-01T00:00:00Z", freeze=True) as ns:
        first = clocks(ns)[0]
        time.sleep(0.05)
        date = ns.run(["date", "-u", "+%s%N"], capture_output=True, text=True, check=True).stdout
        assert first == int(date) == Y2030
        assert ns.clock_state().frozen


def test_unfreeze_runs_on_from_the_frozen_instant(rundir):
    with timens.TimeNamespace.create() as ns:  # no page yet, no process either: freeze makes one
        ns.freeze("@2030-01-01T00:00:00Z")
        assert clocks(ns)[0] == Y2030
        ns.unfreeze()
        after = clocks(ns)[0]
        # Not host time + the old offset (0: 2026), but on from 2030.
        assert Y2030 <= after < Y2030 + 60 * NS
        assert not ns.clock_state().frozen


def test_set_realtime_while_frozen_moves_the_frozen_instant(rundir):
    with timens.TimeNamespace.create(freeze=True) as ns:
        ns.set_realtime("@2030-01-01T00:00:00Z")
        assert clocks(ns)[0] == Y2030
        assert ns.clock_state().frozen


def test_advance_moves_every_clock_an_hour(rundir):
    with timens.TimeNamespace.create(realtime="+0") as ns:
        before = clocks(ns)
        ns.advance("1h")
        after = clocks(ns)
        for clock, b, a in zip(("REALTIME", "MONOTONIC", "BOOTTIME"), before, after):
            assert HOUR <= a - b < HOUR + 60 * NS, clock
        state = ns.clock_state()
        assert (state.monotonic_ns, state.boottime_ns) == (HOUR, HOUR)


def test_advance_while_frozen_moves_the_frozen_instant(rundir):
    with timens.Popen(["sleep", "60"], realtime="@2030-01-01T00:00:00Z", freeze=True) as sleeper:
        ns = sleeper.namespace
        ns.advance(3600)
        assert clocks(ns)[0] == Y2030 + HOUR
        sleeper.kill()


def test_advance_backwards_is_refused(rundir):
    with timens.TimeNamespace.create(realtime="+0") as ns:
        with pytest.raises(timens.OutOfRange, match="MONOTONIC must never go back"):
            ns.advance("-1h")
        assert ns.clock_state().monotonic_ns == 0


def test_no_page_and_processes_running_cannot_be_frozen(rundir):
    with timens.Popen(["sleep", "60"]) as sleeper:
        ns = sleeper.namespace
        for change in (ns.freeze, lambda: ns.advance("1h")):
            with pytest.raises(timens.TimensError, match="did not load libtimens.so"):
                change()
        assert ns.page_path is None
        sleeper.kill()


def test_run_freeze(rundir):
    proc = timens.run(["sh", "-c", "date +%s%N; sleep 0.05; date +%s%N"], freeze=True,
                      capture_output=True, text=True, check=True)
    first, second = map(int, proc.stdout.split())
    assert first == second
    assert abs(first - host_realtime_ns()) < 60 * NS


def test_freeze_with_a_namespace_given_is_refused():
    with timens.TimeNamespace.create() as ns, pytest.raises(ValueError, match="not both"):
        timens.Popen(["true"], namespace=ns, freeze=True)

