"""`timens inject NAME --pid PID`: a running process reads NAME's clocks.

For a process timens did not start (a static or Go server already running):
timens-tracer stops every thread of it for a moment, maps code next to its
vDSO, writes a jump over the start of each vDSO time function to that code,
and lets the process go: no tracer stays attached (native/vdso/).

Which clock page the injected code reads:

- REALTIME comes from NAME's page, so a later `timens set NAME` reaches
  the process too. A NAME without a page gets one (offset 0).
- MONOTONIC and BOOTTIME: the kernel keeps giving the process the offsets
  of the namespace it lives in. If they differ from NAME's, the difference
  goes into the "advance" fields of a page made for this process,
  `pages/<inode>.inject-<pid>`, which holds NAME's REALTIME offset too;
  `timens set NAME` writes it along with NAME's page, `delete` removes it.

Refused, with one line and nothing changed: another architecture, 32-bit,
a process traced already, a seccomp filter without the privilege to suspend
it, vDSO code this version does not know.
"""
import os
import subprocess

from . import errors, kernel, vdso
from .namespace import TimeNamespace
from .page import LAYOUT, ClockPage
from .values import split_ns


def inject(name, pid, *, rundir=None):
    """Give process PID the clocks of the named namespace NAME."""
    if not vdso.available():
        raise errors.TimensError("inject works on x86-64 only (timens-tracer is not built here)")
    with TimeNamespace.open(name, rundir=rundir) as ns, TimeNamespace.from_pid(pid, rundir=rundir) as own:
        if _loads_libtimens(own.pid):
            # Its REALTIME comes from its own namespace's page already: two offsets would add up.
            raise errors.TimensError(f"cannot inject into process {own.pid}: it runs with libtimens.so "
                                     "(started by timens); change its namespace with 'timens set' instead")
        want, have = ns.offsets(), own.offsets()
        advance = (want.monotonic - have.monotonic, want.boottime - have.boottime)
        made = None
        if advance == (0, 0):
            if ns.page_path is None:
                ns.set_realtime(0)  # REALTIME as the caller reads it, from now on live
            page = ns.page_path
        else:
            page = made = _advance_page(ns, int(pid), want.realtime or 0, advance)
        seen_as = _path_in_its_root(own.pid, os.path.abspath(page))
        if seen_as is None:
            if made is not None:
                made.unlink(missing_ok=True)
            raise errors.TimensError(f"cannot inject into process {own.pid}: it runs in another mount namespace, "
                                     f"where {page} is not to be seen (mount it there, or name it in TIMENS_PAGE)")
        proc = subprocess.run([str(vdso.TRACER), "inject", seen_as, str(int(pid))], capture_output=True, text=True)
        if proc.returncode != 0:
            if made is not None:
                made.unlink(missing_ok=True)
            message = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "timens-tracer failed"
            raise errors.TimensError(message.removeprefix("timens: "))


def _path_in_its_root(pid, page):
    """Where process PID, which opens the page itself, finds PAGE: the same
    path, or (in a container) the page timens-runtime mounted, which its
    TIMENS_PAGE names; None if neither is that very file."""
    want = os.stat(page)
    for candidate in (page, kernel.environ_of(pid).get("TIMENS_PAGE")):
        if not candidate or not candidate.startswith("/"):
            continue
        try:
            seen = os.stat(kernel.proc(pid, "root") + candidate)
        except OSError:
            continue
        if (seen.st_dev, seen.st_ino) == (want.st_dev, want.st_ino):
            return candidate
    return None


def _loads_libtimens(pid):
    try:
        with open(kernel.proc(pid, "maps")) as maps:
            return any(line.rstrip().endswith("/libtimens.so") for line in maps)
    except OSError:
        return False  # the tracer says why it cannot go on


def _advance_page(ns, pid, realtime_ns, advance):
    """A page for one process: NAME's REALTIME, plus MONOTONIC/BOOTTIME advances.

    page_write.c has no operation that sets the advances alone, so they are
    written into a new page under a temporary name, which no reader or
    writer knows yet, and the page is then renamed into place whole.
    """
    from pathlib import Path

    path = Path(ns.rundir.injected_page(ns.inode, pid))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    ClockPage.create(tmp, realtime_ns).close()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CLOEXEC)
        try:
            for clock, ns_value in zip(("MONOTONIC", "BOOTTIME"), advance):
                sec, nsec = split_ns(ns_value)
                os.pwrite(fd, sec.to_bytes(8, "little", signed=True), LAYOUT[f"TIMENS_OFF_{clock}_SEC"])
                os.pwrite(fd, nsec.to_bytes(8, "little", signed=True), LAYOUT[f"TIMENS_OFF_{clock}_NSEC"])
        finally:
            os.close(fd)
        os.rename(tmp, path)  # replaces the page of a process with this pid that is gone
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
