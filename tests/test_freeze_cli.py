"""Freeze, unfreeze and advance through the timens command, read by processes inside."""
import json
import subprocess
import sys

import pytest

from conftest import timens_argv

NS = 10**9
HOUR = 3600 * NS
Y2030 = 1893456000 * NS  # 2030-01-01T00:00:00Z
READ = "import time; print(time.time_ns(), time.monotonic_ns(), time.clock_gettime_ns(time.CLOCK_BOOTTIME))"


@pytest.fixture
def lab(timens):
    """A named namespace "lab", deleted after the test; create it with lab(*options)."""

    def create(*options):
        proc = timens("create", "lab", *options)
        assert proc.returncode == 0, proc.stderr

    yield create
    timens("delete", "lab")


def inside(timens, *cmd):
    proc = timens("exec", "lab", "--", *cmd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def clocks(timens):
    return tuple(map(int, inside(timens, sys.executable, "-c", READ).split()))


def state(timens, command="show"):
    proc = timens(command, *(["lab"] if command == "show" else []), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    if command == "list":
        (data,) = [n for n in data["namespaces"] if n["name"] == "lab"]
    return data


def refused(proc, *words):
    assert proc.returncode == 125
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr


def test_run_freeze(timens):
    proc = timens("run", "--freeze", "--realtime", "@2030-01-01T00:00:00Z", "--",
                  "sh", "-c", "date -u +%s%N; sleep 0.05; date -u +%s%N")
    assert proc.returncode == 0, proc.stderr
    assert list(map(int, proc.stdout.split())) == [Y2030, Y2030]


def test_create_frozen_then_unfreeze(timens, lab):
    lab("--freeze")
    first = int(inside(timens, "date", "+%s%N"))
    assert int(inside(timens, sys.executable, "-c", "import time; print(time.time_ns())")) == first
    for command in ("show", "list"):
        data = state(timens, command)
        assert (data["frozen"], data["frozen_at_ns"]) == (True, first), command
    assert "frozen" in timens("show", "lab").stdout
    assert "frozen" in timens("list").stdout

    assert timens("set", "lab", "--unfreeze").returncode == 0
    after = int(inside(timens, "date", "+%s%N"))
    assert first <= after < first + 60 * NS
    assert (state(timens)["frozen"], state(timens)["frozen_at_ns"]) == (False, None)


def test_set_realtime_and_freeze(timens, lab):
    lab()  # no page yet, no process inside: one is made
    assert timens("set", "lab", "--realtime", "@2030-01-01T00:00:00Z", "--freeze").returncode == 0
    assert int(inside(timens, "date", "-u", "+%s%N")) == Y2030
    # unfreeze runs on from 2030, not from host time
    assert timens("set", "lab", "--unfreeze").returncode == 0
    assert Y2030 <= int(inside(timens, "date", "-u", "+%s%N")) < Y2030 + 60 * NS


def test_advance_moves_every_clock_an_hour(timens, lab):
    lab("--realtime", "+0")
    before = clocks(timens)
    assert timens("set", "lab", "--advance", "1h").returncode == 0
    after = clocks(timens)
    for clock, b, a in zip(("REALTIME", "MONOTONIC", "BOOTTIME"), before, after):
        assert HOUR <= a - b < HOUR + 60 * NS, clock
    for command in ("show", "list"):
        assert state(timens, command)["advanced"] == {"monotonic_ns": HOUR, "boottime_ns": HOUR}, command
    assert "advanced +1h" in timens("show", "lab").stdout


@pytest.mark.parametrize("value", ["-1h", "-1s", "=1h", "@2030-01-01"])
def test_advance_back_or_to_a_target_is_refused(timens, lab, value):
    lab("--realtime", "+0")
    proc = timens("set", "lab", "--advance", value)
    refused(proc, *(["MONOTONIC must never go back"] if value.startswith("-") else ["advance"]))
    assert state(timens, "list")["advanced"] == {"monotonic_ns": 0, "boottime_ns": 0}


@pytest.mark.parametrize(
    "options, words",
    [
        (["--freeze", "--unfreeze"], ["--freeze", "--unfreeze"]),
        ([], ["nothing to set"]),
    ],
)
def test_bad_set_requests(timens, lab, options, words):
    lab("--realtime", "+0")
    refused(timens("set", "lab", *options), *words)
    assert state(timens, "list")["frozen"] is False


def test_no_page_and_a_process_inside_cannot_be_frozen(timens, lab):
    lab()
    sleeper = subprocess.Popen(timens_argv("exec", "lab", "--", "sleep", "60"))
    try:
        for _ in range(1000):
            if state(timens, "list")["processes"]:
                break
        for options in (["--freeze"], ["--advance", "1h"]):
            refused(timens("set", "lab", *options), "did not load libtimens.so", "--freeze or --realtime +0")
        assert (state(timens, "list")["frozen"], state(timens, "list")["advanced"]) == (False, None)  # no page made
    finally:
        sleeper.kill()
        sleeper.wait()
