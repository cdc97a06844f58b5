"""The shapes users know from time-machine and pytest-freezer, over OwnClock.

Registered by the timens pytest plugin while it is on, and only for the
plugins that are not installed: nothing of theirs is ever shadowed.

- time-machine: fixture `time_machine` with `move_to(destination,
  tick=True)` and `shift(delta)`; marker `@pytest.mark.time_machine(
  destination, tick=True)`.
- pytest-freezer: fixture `freezer`, frozen at the start of the test, with
  `move_to(destination)` and `tick(delta=1)`; marker
  `@pytest.mark.freeze_time(destination)`.

A destination is a datetime or an ISO 8601 string (naive means UTC, as
those plugins take it), a date, a POSIX timestamp, or any timens value
(@DATE, +1d). Unlike theirs, these moves reach C code and subprocesses too.
"""
from datetime import date, datetime, timezone

import pytest


def _destination(dest):
    if isinstance(dest, datetime):
        return dest if dest.tzinfo else dest.replace(tzinfo=timezone.utc)
    if isinstance(dest, date):
        return datetime(dest.year, dest.month, dest.day, tzinfo=timezone.utc)
    if isinstance(dest, (int, float)) and not isinstance(dest, bool):
        return datetime.fromtimestamp(dest, timezone.utc)
    if isinstance(dest, str) and dest[:1] not in ("@", "+", "-"):
        try:
            return _destination(datetime.fromisoformat(dest))  # naive: UTC, as theirs
        except ValueError:
            return "@" + dest  # timens's own date syntax, which says what is wrong
    return dest


class TimeMachine:
    """time-machine's fixture shape."""

    def __init__(self, clock):
        self._clock = clock

    def move_to(self, destination, tick=True):
        self._clock.move_to(_destination(destination), tick=tick)

    def shift(self, delta):
        self._clock.shift(delta)


class Freezer:
    """pytest-freezer's fixture shape: frozen from the start."""

    def __init__(self, clock):
        self._clock = clock

    def move_to(self, destination):
        self._clock.move_to(_destination(destination), tick=False)

    def tick(self, delta=1):
        self._clock.shift(delta)


class TimeMachinePlugin:
    @pytest.fixture
    def time_machine(self, timens_clock):
        return TimeMachine(timens_clock)

    @pytest.fixture(autouse=True)
    def _timens_time_machine_marker(self, request):
        marker = request.node.get_closest_marker("time_machine")
        if marker is not None:
            TimeMachine(request.getfixturevalue("timens_clock")).move_to(*marker.args, **marker.kwargs)


class FreezerPlugin:
    @pytest.fixture
    def freezer(self, timens_clock):
        timens_clock.freeze()
        return Freezer(timens_clock)

    @pytest.fixture(autouse=True)
    def _timens_freeze_time_marker(self, request):
        marker = request.node.get_closest_marker("freeze_time")
        if marker is not None:
            freezer = request.getfixturevalue("freezer")
            if marker.args or marker.kwargs:
                freezer.move_to(*marker.args, **marker.kwargs)


def register(config):
    plugins = config.pluginmanager
    if not plugins.hasplugin("time_machine"):
        config.addinivalue_line("markers", "time_machine(destination, tick=True): as time-machine's, through timens")
        plugins.register(TimeMachinePlugin(), "timens-time-machine")
    if not plugins.hasplugin("freezer"):
        config.addinivalue_line("markers", "freeze_time(destination=None): as pytest-freezer's, through timens")
        plugins.register(FreezerPlugin(), "timens-freezer")
