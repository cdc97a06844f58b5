"""`OwnClock`: the clocks of this very process and of the processes it starts.

REALTIME, freeze and advance live in a clock page that libtimens.so reads.
A process gets clocks of its own, without a namespace of its own, when
libtimens.so is loaded into it and it reads a page no one else uses:

- a process without libtimens.so is started again (exec, same pid) with the
  environment `exec_env()` gives: LD_PRELOAD, and TIMENS_PAGE naming a fresh
  page in a private directory;
- a process that has libtimens.so already (a worker forked or started with
  its parent's environment) makes a fresh page and switches to it in place
  (`timens_attach_page`, exported by libtimens.so).

Either way TIMENS_PAGE then names the page, so every process started
afterwards reads the same clocks. The pytest plugin is built on this.
"""
import os
import shutil
import tempfile
from pathlib import Path

from . import errors, kernel, travel
from .namespace import as_value, caller_page_path, check_realtime
from .page import ClockPage, PageError
from .values import INSTANT, OFFSET

#: "<pid>:<dir>": the process that owns the page TIMENS_PAGE names, and the
#: private directory holding it (removed by that process when it is done).
OWNER_ENV = "TIMENS_PAGE_OWNER"
PAGE_NAME = "page"


def libtimens_loaded():
    """Is a libtimens.so that can switch pages loaded in this process?"""
    import ctypes

    return hasattr(ctypes.CDLL(None), "timens_attach_page")


def _owner(env=os.environ):
    pid, _, directory = env.get(OWNER_ENV, "").partition(":")
    return (int(pid), Path(directory)) if pid.isdigit() and directory else (None, None)


def _current_clocks():
    """(REALTIME offset, MONOTONIC advance) this process reads now."""
    if not libtimens_loaded():
        return 0, 0
    try:
        with ClockPage.open(caller_page_path(), writable=False) as page:
            view = page.read()
    except (OSError, PageError):
        return 0, 0
    return view.realtime_offset_ns, view.monotonic_ns  # the offset counts a freeze in already


def _new_private_page():
    """A fresh page in a new private directory, giving the clocks this
    process reads now (so that nothing jumps, and MONOTONIC never goes back)."""
    realtime, advanced = _current_clocks()
    directory = Path(tempfile.mkdtemp(prefix="timens-clock-"))
    try:
        # Readable by all: a child that drops privileges reads it too.
        directory.chmod(0o755)
        page = ClockPage.create(directory / PAGE_NAME, realtime - advanced, mode=0o644)
        if advanced > 0:
            page.advance(advanced)  # adds to REALTIME as well: realtime again
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return page, directory


class OwnClock:
    """The clocks of this process and of everything it starts from now on.

    Values are those of `timens set --realtime`: offsets count from the real
    time (what this process read when the clock was made), @DATE is an
    instant; numbers are seconds, and datetimes and timedeltas work too.
    """

    def __init__(self, page, directory):
        self.page = page
        self.directory = directory
        view = page.read()
        self._real_offset = view.realtime_offset_ns
        self._clean_generation = view.generation

    # ------------------------------------------------------------ making

    @staticmethod
    def exec_env(env=None):
        """The environment to exec this process again with a page of its own.

        The page and its directory belong to this pid, which an exec keeps;
        `attach()` in the new program picks them up. Call `discard_env()` if
        the exec fails.
        """
        env = dict(os.environ if env is None else env)
        page, directory = _new_private_page()
        page.close()
        preload = [p for p in env.get("LD_PRELOAD", "").replace(":", " ").split() if "libtimens" not in p]
        env["LD_PRELOAD"] = " ".join([str(kernel.LIBTIMENS), *preload])
        env["TIMENS_PAGE"] = str(directory / PAGE_NAME)
        env[OWNER_ENV] = f"{os.getpid()}:{directory}"
        return env

    @staticmethod
    def discard_env(env):
        pid, directory = _owner(env)
        if pid == os.getpid():
            shutil.rmtree(directory, ignore_errors=True)

    @staticmethod
    def prepared():
        """Was this process exec'd with `exec_env()`'s environment?"""
        return _owner()[0] == os.getpid()

    @classmethod
    def attach(cls):
        """This process's own clock: the page prepared before an exec, or a
        fresh page switched to in place (a worker that has its parent's)."""
        pid, directory = _owner()
        if pid == os.getpid():
            if not libtimens_loaded():
                raise errors.TimensError(
                    "libtimens.so is not loaded in this process although its environment asks for it; "
                    "is LD_PRELOAD cleared, or the program static?"
                )
            return cls(ClockPage.open(directory / PAGE_NAME), directory)
        if not libtimens_loaded():
            raise errors.TimensError(
                "libtimens.so is not loaded in this process: start it with LD_PRELOAD "
                "(OwnClock.exec_env() gives the environment)"
            )
        page, directory = _new_private_page()
        path = directory / PAGE_NAME
        import ctypes

        status = ctypes.CDLL(None).timens_attach_page(os.fsencode(path))
        if status != 0:
            page.close()
            shutil.rmtree(directory, ignore_errors=True)
            raise errors.TimensError(f'cannot switch to clock page "{path}": {os.strerror(-status)}')
        os.environ["TIMENS_PAGE"] = str(path)
        os.environ[OWNER_ENV] = f"{os.getpid()}:{directory}"
        return cls(page, directory)

    # ------------------------------------------------------------ moving

    def move_to(self, value, tick=None):
        """REALTIME reads VALUE now. tick=False: and stays there (frozen);
        tick=True: and runs on; None: frozen or not, as before."""
        value = as_value(value, "realtime")
        host_now = travel.host_realtime_ns()
        offset = travel.realtime_offset(value, self._real_offset, host_now)
        if tick is False:
            self.page.freeze(host_now + offset)
            return
        if value.kind == INSTANT:
            self.page.set_realtime_now(value.ns)  # exactly there, frozen or not
        else:
            self.page.set_realtime_offset(offset)
        if tick:
            self.page.unfreeze()

    def shift(self, delta):
        """Move REALTIME by DELTA from where it is now (back too)."""
        value = as_value(delta, "realtime")
        if value.kind != OFFSET:
            raise errors.BadValue(f"shift takes a duration such as +1d or -3h, not {value}")
        view = self.page.read()
        host_now = travel.host_realtime_ns()
        if view.frozen:
            check_realtime(view.frozen_at_ns + value.ns - host_now, str(value), host_now)
            self.page.freeze(view.frozen_at_ns + value.ns)
        else:
            check_realtime(view.realtime_offset_ns + value.ns, str(value), host_now)
            self.page.set_realtime_offset(view.realtime_offset_ns + value.ns)

    def freeze(self, at=None):
        """Stop REALTIME, now or at AT (a value as for move_to)."""
        if at is None:
            self.page.freeze()
            return
        host_now = travel.host_realtime_ns()
        self.page.freeze(travel.freeze_instant(as_value(at, "realtime"), self._real_offset, host_now))

    def unfreeze(self):
        """REALTIME runs on from the frozen instant."""
        self.page.unfreeze()

    def advance(self, delta):
        """Move REALTIME, MONOTONIC and BOOTTIME forward by DELTA at once."""
        self.page.advance(travel.advance_ns(as_value(delta, "advance")))

    @property
    def frozen(self):
        return self.page.read().frozen

    def reset(self):
        """Back to the real time, running; MONOTONIC keeps any advance."""
        view = self.page.read()
        if view.generation == self._clean_generation:
            return
        if view.frozen:
            self.page.unfreeze()
        self.page.set_realtime_offset(self._real_offset)
        self._clean_generation = self.page.read().generation

    # ------------------------------------------------------------ ending

    def close(self):
        """Close the page; the process that owns it also removes it."""
        self.page.close()
        if _owner() == (os.getpid(), self.directory):
            shutil.rmtree(self.directory, ignore_errors=True)
