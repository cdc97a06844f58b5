"""The clock page: one shared 4 KiB file per time namespace.

The layout lives in one place, ``native/timens_page.h``; this module parses
its ``#define`` lines at import, so no offset is written twice. Readers in
other processes (libtimens.so) map the same file and read it with a
seqlock; this module writes it with the same protocol and can read it too.

All offsets are integers in nanoseconds.
"""
import fcntl
import mmap
import os
import struct
from pathlib import Path

from .values import NSEC_PER_SEC, join_ns, split_ns  # noqa: F401  (part of this module's API)

HEADER = Path(__file__).parent / "native" / "timens_page.h"

_STRINGS = ("TIMENS_PAGES_SUBDIR", "TIMENS_DEFAULT_RUNDIR")


def _parse_header(text):
    """The header's one-line defines: TIMENS_PAGE_*/OFF_*/FLAG_* numbers, two paths."""
    layout = {}
    for line in text.splitlines():
        words = line.split(None, 2)
        if len(words) != 3 or words[0] != "#define":
            continue
        name, value = words[1], words[2].strip()
        if name.startswith(("TIMENS_PAGE_", "TIMENS_OFF_", "TIMENS_FLAG_")):
            layout[name] = int(value, 0)
        elif name in _STRINGS and len(value) >= 2 and value[0] == value[-1] == '"':
            layout[name] = value[1:-1]
    return layout


#: Every TIMENS_PAGE_* / TIMENS_OFF_* number and the two path strings.
LAYOUT = _parse_header(HEADER.read_text())

PAGE_MAGIC = LAYOUT["TIMENS_PAGE_MAGIC"]
PAGE_VERSION = LAYOUT["TIMENS_PAGE_VERSION"]
PAGE_SIZE = LAYOUT["TIMENS_PAGE_SIZE"]
OFF_MAGIC = LAYOUT["TIMENS_OFF_MAGIC"]
OFF_VERSION = LAYOUT["TIMENS_OFF_VERSION"]
OFF_SEQ = LAYOUT["TIMENS_OFF_SEQ"]
OFF_REALTIME_SEC = LAYOUT["TIMENS_OFF_REALTIME_SEC"]
OFF_REALTIME_NSEC = LAYOUT["TIMENS_OFF_REALTIME_NSEC"]
OFF_GENERATION = LAYOUT["TIMENS_OFF_GENERATION"]
PAGES_SUBDIR = LAYOUT["TIMENS_PAGES_SUBDIR"]
DEFAULT_RUNDIR = LAYOUT["TIMENS_DEFAULT_RUNDIR"]

# A reader gives up after this many tries while a writer stays inside.
_READ_RETRIES = 1_000_000


class PageError(Exception):
    """A file that is not a usable clock page (bad magic, version, size)."""

    def __init__(self, path, problem):
        super().__init__(f'Clock page "{path}": {problem}')
        self.path = path
        self.problem = problem


class PageBusy(PageError):
    """Another writer holds the page's lock and does not let go."""


def page_path(rundir, inode):
    """Where the page of the time namespace with nsfs inode INODE lives."""
    return Path(rundir) / PAGES_SUBDIR / str(int(inode))


def _page_bytes(realtime_offset_ns):
    buf = bytearray(PAGE_SIZE)
    sec, nsec = split_ns(realtime_offset_ns)
    struct.pack_into("<I", buf, OFF_MAGIC, PAGE_MAGIC)
    struct.pack_into("<I", buf, OFF_VERSION, PAGE_VERSION)
    struct.pack_into("<q", buf, OFF_REALTIME_SEC, sec)
    struct.pack_into("<q", buf, OFF_REALTIME_NSEC, nsec)
    return bytes(buf)


class ClockPage:
    """An open clock page. Use ``create`` or ``open``; close it when done."""

    def __init__(self, path, fd, mm, writable):
        import ctypes  # here, not at import: only page users pay for it

        self.path = Path(path)
        self._fd = fd
        self._mm = mm
        self.writable = writable
        # Views into the mapping: each .value is one aligned load or store.
        self._seq = ctypes.c_uint32.from_buffer(mm, OFF_SEQ)
        self._sec = ctypes.c_int64.from_buffer(mm, OFF_REALTIME_SEC)
        self._nsec = ctypes.c_int64.from_buffer(mm, OFF_REALTIME_NSEC)
        self._generation = ctypes.c_uint64.from_buffer(mm, OFF_GENERATION)

    @classmethod
    def create(cls, path, realtime_offset_ns, mode=0o644):
        """Write a complete page at PATH and open it; FileExistsError if PATH exists.

        The page is written to a temporary file in the same directory and
        linked into place, so a reader never sees a partial page and two
        creators cannot both win.
        """
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            try:
                os.write(fd, _page_bytes(realtime_offset_ns))
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            os.link(tmp, path)  # fails with FileExistsError, never replaces
        finally:
            os.unlink(tmp)
        return cls.open(path, writable=bool(mode & 0o200) or os.geteuid() == 0)

    @classmethod
    def open(cls, path, writable=True):
        """Map an existing page; PageError if it is not one."""
        path = Path(path)
        fd = os.open(path, (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            if size < PAGE_SIZE:
                raise PageError(path, f"{size} bytes, a page has {PAGE_SIZE}")
            access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
            mm = mmap.mmap(fd, PAGE_SIZE, mmap.MAP_SHARED, access=access)
        except BaseException:
            os.close(fd)
            raise
        try:
            (magic,) = struct.unpack_from("<I", mm, OFF_MAGIC)
            (version,) = struct.unpack_from("<I", mm, OFF_VERSION)
            if magic != PAGE_MAGIC:
                raise PageError(path, f"bad magic {magic:#x}, not a clock page")
            if version != PAGE_VERSION:
                raise PageError(path, f"version {version}, this timens reads {PAGE_VERSION}")
            if not writable:
                # ctypes views need a writable buffer; a private copy-on-write
                # mapping of the same page still shows the writers' stores
                # until this process writes, which it never does.
                mm.close()
                mm = mmap.mmap(fd, PAGE_SIZE, mmap.MAP_PRIVATE,
                               mmap.PROT_READ | mmap.PROT_WRITE)
            return cls(path, fd, mm, writable)
        except BaseException:
            mm.close()
            os.close(fd)
            raise

    # -- reading -----------------------------------------------------------

    def read_realtime_offset(self):
        """The REALTIME offset in nanoseconds, read with the seqlock."""
        for _ in range(_READ_RETRIES):
            seq = self._seq.value
            if seq & 1:
                continue
            sec, nsec = self._sec.value, self._nsec.value
            if self._seq.value == seq:
                return join_ns(sec, nsec)
        raise PageError(self.path, "a writer stopped mid-update (sequence stays odd)")

    @property
    def generation(self):
        """Bumped by every write; lets observers notice a change."""
        return self._generation.value

    # -- writing -----------------------------------------------------------

    def _lock(self, timeout=5.0):
        """The writers' lock, waited for at most TIMEOUT seconds (a writer
        stopped inside must not hang us)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PageBusy(self.path, "another writer holds the lock and does not finish") from None
                time.sleep(0.001)

    def set_realtime_offset(self, ns):
        """Store a new REALTIME offset; readers see the old one or the new one."""
        if not self.writable:
            raise PermissionError(f'Clock page "{self.path}" is open read only')
        sec, nsec = split_ns(ns)
        if not -(2**63) <= sec < 2**63:
            raise OverflowError(f"REALTIME offset {ns} ns does not fit the page")
        self._lock()
        try:
            # The order of these stores is the protocol. Each .value store is
            # one aligned store from C, and x86-64 keeps stores in program
            # order, so a reader that sees seq even again also sees the
            # fields. On weakly ordered CPUs (arm64) this needs barriers
            # between the stores; write from C (libtimens) there.
            seq = self._seq.value
            odd = seq + 2 if seq & 1 else seq + 1  # odd already: a writer died inside
            self._seq.value = odd & 0xFFFFFFFF
            self._sec.value = sec
            self._nsec.value = nsec
            self._generation.value = (self._generation.value + 1) & 0xFFFFFFFFFFFFFFFF
            self._seq.value = (odd + 1) & 0xFFFFFFFF
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    # -- lifetime ----------------------------------------------------------

    def close(self):
        if self._mm is None:
            return
        # The ctypes views hold buffer exports; drop them before the mapping.
        del self._seq, self._sec, self._nsec, self._generation
        self._mm.close()
        os.close(self._fd)
        self._mm = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self._mm is None else ("rw" if self.writable else "ro")
        return f"<ClockPage {str(self.path)!r} {state}>"
