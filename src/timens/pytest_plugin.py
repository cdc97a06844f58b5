"""pytest plugin: move, freeze and advance the clocks of the tests themselves.

`pytest --timens` (or `timens = true` in the ini file) gives the test
process a clock page of its own (`OwnClock`): REALTIME moves reach Python,
C extensions (ssl, sqlite3) and every subprocess alike. A pytest started
without libtimens.so is exec'd again with it, before collection; each
pytest-xdist worker switches to a page of its own at start.

    def test_expiry(timens_clock):
        timens_clock.shift("+31d")

    @pytest.mark.timens(realtime="@2038-01-19T03:14:07Z", freeze=True)
    def test_y2038(): ...

Every test starts at the real time: tear-down undoes REALTIME moves and
freezes. An advance of MONOTONIC cannot be undone (it never goes back), so
it stays for the rest of that process's tests.

The shapes of time-machine (`time_machine` fixture, `@pytest.mark.
time_machine`) and pytest-freezer (`freezer`, `@pytest.mark.freeze_time`)
are offered too, unless those plugins are installed.
"""
import os
import sys

import pytest

_KEY = pytest.StashKey()  # config -> OwnClock, while the plugin is on


def pytest_addoption(parser):
    group = parser.getgroup("timens", "time namespaces")
    group.addoption(
        "--timens",
        action="store_true",
        default=None,
        help="give the tests a clock of their own (fixture timens_clock, marker timens)",
    )
    parser.addini("timens", type="bool", default=False, help="as --timens")


def _wanted(config):
    option = config.getoption("timens")
    return bool(config.getini("timens") if option is None else option)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Start this pytest again with libtimens.so, if it has not got it."""
    from .ownclock import OwnClock, libtimens_loaded

    if not _wanted(config) or libtimens_loaded() or hasattr(config, "workerinput"):
        return None
    if OwnClock.prepared():
        raise pytest.UsageError("--timens: libtimens.so did not load after a restart with LD_PRELOAD")
    if tuple(config.invocation_params.args) != tuple(sys.argv[1:]):
        raise pytest.UsageError(
            "--timens restarts pytest with libtimens.so loaded, which works when pytest runs as a "
            "command; for pytest.main() (or in-process pytester) start Python with libtimens.so "
            "loaded already, e.g. 'timens run --realtime +0 -- python script.py'"
        )
    env = OwnClock.exec_env()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, sys.orig_argv, env)
    except OSError as err:
        OwnClock.discard_env(env)
        raise pytest.UsageError(f"--timens: cannot restart {sys.executable}: {err.strerror}") from err


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "timens(realtime=None, freeze=False, advance=None): run the test with REALTIME moved "
        "(as timens set --realtime), frozen, or every clock advanced (needs --timens)",
    )
    if _wanted(config):
        from .errors import TimensError
        from .ownclock import OwnClock

        try:
            clock = OwnClock.attach()
        except (TimensError, OSError) as err:
            raise pytest.UsageError(f"--timens: {err}") from err
        config.stash[_KEY] = clock
        config.add_cleanup(clock.close)
        from . import pytest_aliases

        pytest_aliases.register(config)


def own_clock(config, what):
    """This run's OwnClock; fails the test if the plugin is off."""
    clock = config.stash.get(_KEY, None)
    if clock is None:
        pytest.fail(f"{what} needs the timens plugin on: run pytest --timens (or set timens = true)", pytrace=False)
    return clock


@pytest.fixture(autouse=True)
def _timens_reset(request):
    """Start each test at the real time, applying its marker; undo it after."""
    clock = request.config.stash.get(_KEY, None)
    marker = request.node.get_closest_marker("timens")
    if marker is not None:
        clock = own_clock(request.config, "@pytest.mark.timens")
        apply_marker(clock, *marker.args, **marker.kwargs)
    yield
    if clock is not None:
        clock.reset()


def apply_marker(clock, realtime=None, freeze=False, advance=None):
    if advance is not None:
        clock.advance(advance)
    if realtime is not None:
        clock.move_to(realtime, tick=not freeze)
    elif freeze:
        clock.freeze()


@pytest.fixture
def timens_clock(request):
    """The clock of this test and its subprocesses: move_to(value),
    shift(delta), freeze(), unfreeze(), advance(delta)."""
    return own_clock(request.config, "the timens_clock fixture")
