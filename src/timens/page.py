"""The clock page: one shared 4 KiB file per time namespace.

The layout lives in one place, ``native/timens_page.h``; `layout.py` parses
its ``#define`` lines at import, so no offset is written twice. Every write
and every consistent read goes through the one C writer, page_write.c, built
alone as ``native/libtimens-page.so`` (no constructor, no interposers) and
called here through ctypes: libtimens.so's clock_settime runs the same code.

All offsets and instants are integers in nanoseconds.
"""
import errno
import os
import stat
from collections import namedtuple

from .errors import TimensError
from .values import NSEC_PER_SEC, join_ns, split_ns  # noqa: F401  (part of this module's API)

from .layout import (  # noqa: F401  (part of this module's API)
    DEFAULT_RUNDIR, FLAG_FROZEN, HEADER, LAYOUT, NATIVE, OFF_GENERATION, OFF_MAGIC, OFF_NS_ID, OFF_REALTIME_NSEC,
    OFF_REALTIME_SEC, OFF_SEQ, OFF_VERSION, OFF_WAKE, PAGE_MAGIC, PAGE_SIZE, PAGE_VERSION, PAGES_SUBDIR,
)

WRITER = os.path.join(NATIVE, "libtimens-page.so")

# enum timens_page_op in native/page_write.h
_OP_SET_OFFSET, _OP_SET_NOW, _OP_FREEZE, _OP_FREEZE_NOW, _OP_UNFREEZE, _OP_ADVANCE = range(1, 7)

#: What a page holds, read consistently. realtime_offset_ns is what REALTIME
#: reads minus host REALTIME now (while frozen: frozen_at_ns - host now);
#: frozen_at_ns is None unless frozen; monotonic_ns and boottime_ns are the
#: page's additions on top of the kernel's offsets (advance).
PageView = namedtuple("PageView", "frozen realtime_offset_ns frozen_at_ns monotonic_ns "
                                  "boottime_ns ns_id generation")


class PageError(TimensError):
    """A file that is not a usable clock page (bad magic, version, size)."""

    def __init__(self, path, problem):
        super().__init__(f'Clock page "{path}": {problem}')
        self.path = path
        self.problem = problem


class PageBusy(PageError):
    """Another writer holds the page's lock and does not let go."""


def page_path(rundir, inode):
    """Where the page of the time namespace with nsfs inode INODE lives."""
    return os.path.join(rundir, PAGES_SUBDIR, str(int(inode)))


def _path(path):
    """PATH as a pathlib.Path, imported only here, for the API and for
    errors: it is slow to import, and neither `timens run`, `list` nor a
    container's create (which may write a page) needs it on its way."""
    from pathlib import Path

    return Path(path)


_writer = None


def _lib():
    """libtimens-page.so, loaded once, on first use (ctypes only then)."""
    global _writer
    if _writer is None:
        import ctypes

        class State(ctypes.Structure):  # struct timens_page_state, page_write.h
            _fields_ = [(name, ctypes.c_uint32) for name in ("seq", "flags", "wake", "reserved")] + [
                (name, ctypes.c_int64) for name in (
                    "realtime_sec", "realtime_nsec", "monotonic_sec", "monotonic_nsec",
                    "boottime_sec", "boottime_nsec", "frozen_sec", "frozen_nsec")] + [
                ("generation", ctypes.c_uint64), ("ns_id", ctypes.c_uint64),
                ("host_sec", ctypes.c_int64), ("host_nsec", ctypes.c_int64)]

        lib = ctypes.CDLL(str(WRITER))
        i64, fd = ctypes.c_int64, ctypes.c_int
        lib.timens_page_format.argtypes = [fd, i64, i64, ctypes.c_uint64]
        lib.timens_page_write.argtypes = [fd, ctypes.c_int, i64, i64]
        lib.timens_page_check.argtypes = [fd]
        lib.timens_page_snapshot.argtypes = [fd, ctypes.POINTER(State)]
        lib.State = State
        _writer = lib
    return _writer


def _parts(ns, what):
    """NS as the page's (sec, nsec); OverflowError if sec leaves int64."""
    sec, nsec = split_ns(int(ns))
    if not -(2**63) <= sec < 2**63:
        raise OverflowError(f"{what} {ns} ns does not fit the page")
    return sec, nsec


def _not_a_page(fd):
    """Why the file on FD is not a page this timens reads (for messages)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size < PAGE_SIZE:
        return f"{st.st_size} bytes, a page has {PAGE_SIZE}"
    head = os.pread(fd, 8, 0)
    magic, version = int.from_bytes(head[:4], "little"), int.from_bytes(head[4:8], "little")
    if magic != PAGE_MAGIC:
        return f"bad magic {magic:#x}, not a clock page"
    if version != PAGE_VERSION:
        return f"version {version}, this timens reads {PAGE_VERSION}"
    return "not a clock page"


class ClockPage:
    """An open clock page. Use ``create`` or ``open``; close it when done."""

    def __init__(self, path, fd, writable):
        self._file = os.fspath(path)
        self._fd = fd
        self.writable = writable

    @property
    def path(self):
        return _path(self._file)

    @classmethod
    def create(cls, path, realtime_offset_ns, mode=0o644, ns_id=0):
        """Write a complete page at PATH and open it; FileExistsError if PATH exists.

        NS_ID is the kernel's id of the namespace the page belongs to
        (kernel.ns_id; 0: unknown, never checked). The page is written to a
        temporary file in the same directory and linked into place, so a
        reader never sees a partial page and two creators cannot both win.
        """
        path = os.fspath(path)
        sec, nsec = _parts(realtime_offset_ns, "REALTIME offset")
        if not 0 <= ns_id < 2**64:
            raise ValueError(f"namespace id {ns_id} is not a 64-bit kernel id")
        directory, name = os.path.split(path)
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            try:
                err = _lib().timens_page_format(fd, sec, nsec, int(ns_id))
                if err:
                    raise OSError(err, os.strerror(err), str(tmp))
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            os.link(tmp, path)  # fails with FileExistsError, never replaces
        finally:
            os.unlink(tmp)
        return cls.open(path, writable=bool(mode & 0o200) or os.geteuid() == 0)

    @classmethod
    def open(cls, path, writable=True):
        """Open an existing page; PageError if it is not one.

        O_NONBLOCK: a FIFO planted where a page should be must not hang us.
        """
        path = os.fspath(path)
        flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC | os.O_NONBLOCK
        fd = os.open(path, flags)
        try:
            err = _lib().timens_page_check(fd)
            if err == errno.EBADMSG:
                raise PageError(_path(path), _not_a_page(fd))
            if err:
                raise OSError(err, os.strerror(err), str(path))
            return cls(path, fd, writable)
        except BaseException:
            os.close(fd)
            raise

    # -- reading -----------------------------------------------------------

    def read(self):
        """A consistent PageView of the page."""
        import ctypes

        lib = _lib()
        state = lib.State()
        self._check(lib.timens_page_snapshot(self._fd, ctypes.byref(state)))
        frozen = bool(state.flags & FLAG_FROZEN)
        frozen_at = join_ns(state.frozen_sec, state.frozen_nsec) if frozen else None
        host = join_ns(state.host_sec, state.host_nsec)
        offset = frozen_at - host if frozen else join_ns(state.realtime_sec, state.realtime_nsec)
        return PageView(frozen, offset, frozen_at, join_ns(state.monotonic_sec, state.monotonic_nsec),
                        join_ns(state.boottime_sec, state.boottime_nsec), state.ns_id, state.generation)

    def read_realtime_offset(self):
        """What REALTIME reads minus host REALTIME, in nanoseconds."""
        return self.read().realtime_offset_ns

    @property
    def generation(self):
        """Bumped by every write; lets observers notice a change."""
        return self.read().generation

    # -- writing: every operation is one locked write by page_write.c ------

    def set_realtime_offset(self, ns):
        """REALTIME reads host + NS from now on; while frozen it stays
        frozen, at host now + NS."""
        self._write(_OP_SET_OFFSET, ns, "REALTIME offset")

    def set_realtime_now(self, at_ns):
        """REALTIME reads the instant AT_NS now (and runs on, or stays
        frozen there)."""
        self._write(_OP_SET_NOW, at_ns, "instant")

    def freeze(self, at_ns=None):
        """Stop REALTIME at the namespace instant AT_NS (ns since the
        epoch), or at what it reads now if None."""
        if at_ns is None:
            self._write(_OP_FREEZE_NOW, 0, "instant")
        else:
            self._write(_OP_FREEZE, at_ns, "instant")

    def unfreeze(self):
        """Let REALTIME run on from the frozen instant, without a jump."""
        self._write(_OP_UNFREEZE, 0, "instant")

    def advance(self, ns):
        """Move REALTIME (or the frozen instant), MONOTONIC and BOOTTIME
        forward by NS >= 0 and wake every sleeper on the page."""
        if ns < 0:
            raise ValueError(f"advance takes a duration >= 0, not {ns} ns")
        self._write(_OP_ADVANCE, ns, "advance")

    def _write(self, op, ns, what):
        if not self.writable:
            raise PermissionError(f'Clock page "{self.path}" is open read only')
        sec, nsec = _parts(ns, what)
        err = _lib().timens_page_write(self._fd, op, sec, nsec)
        if err == errno.ERANGE:
            raise OverflowError(f"{what} {ns} ns takes a clock of the page out of range")
        self._check(err)

    def _check(self, err):
        if err == errno.EBUSY:
            raise PageBusy(self.path, "another writer holds the lock and does not finish")
        if err == errno.EAGAIN:
            raise PageError(self.path, "a writer stopped mid-update (sequence stays odd)")
        if err == errno.EBADMSG:
            raise PageError(self.path, _not_a_page(self._fd))
        if err:
            raise OSError(err, os.strerror(err), str(self.path))

    # -- lifetime ----------------------------------------------------------

    def close(self):
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self._fd is None else ("rw" if self.writable else "ro")
        return f"<ClockPage {str(self.path)!r} {state}>"
