"""Find every time namespace on the system, named or not, made by timens or not.

A namespace is seen through the processes in it (/proc/PID/ns/time), the
processes that made it for their children (ns/time_for_children) and the
names bind-mounted in the run directory. Processes we may not inspect are
skipped, so a normal user sees the namespaces of their own processes.

The cost grows with the number of processes, so each process costs two
readlinks and nothing more, in one pass that the stale-page sweep shares;
everything else (offsets, command line, metadata) is read once per
namespace, and each clock page once, by the sweep.
"""
import os

from . import kernel, stale
from .rundir import RunDir


class NamespaceInfo:
    """What `list_namespaces` found out about one time namespace."""

    __slots__ = ("inode", "name", "host", "monotonic", "boottime", "realtime", "frozen_at", "advanced", "pids",
                 "command")

    def __init__(self, inode, name=None, host=False, monotonic=None, boottime=None, realtime=None,
                 frozen_at=None, advanced=None, pids=None, command=None):
        self.inode = inode
        self.name = name
        self.host = host
        self.monotonic = monotonic  # offsets in ns; None when nobody can tell
        self.boottime = boottime
        self.realtime = realtime
        self.frozen_at = frozen_at  # the instant REALTIME stands at, None if it runs
        self.advanced = advanced  # (MONOTONIC, BOOTTIME) advance from the page, None without one
        self.pids = [] if pids is None else pids
        self.command = command

    @property
    def frozen(self):
        return self.frozen_at is not None

    @property
    def pid(self):
        return self.pids[0] if self.pids else None

    def __repr__(self):
        return "NamespaceInfo(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def as_json(self):
        return {
            "inode": self.inode,
            "name": self.name,
            "host": self.host,
            "offsets": {"monotonic_ns": self.monotonic, "boottime_ns": self.boottime, "realtime_ns": self.realtime},
            "frozen": self.frozen,
            "frozen_at_ns": self.frozen_at,
            "advanced": None if self.advanced is None else dict(zip(("monotonic_ns", "boottime_ns"), self.advanced)),
            "processes": len(self.pids),
            "pid": self.pid,
            "command": self.command,
        }


def list_namespaces(rundir=None):
    """All time namespaces visible to the caller, host first, then by inode."""
    rundir = rundir if isinstance(rundir, RunDir) else RunDir(rundir)
    procfs = kernel.open_procfs()
    try:
        found = _namespaces(rundir, procfs)
    finally:
        os.close(procfs)
    return sorted(found.values(), key=lambda i: (not i.host, i.inode))


def _namespaces(rundir, procfs):
    """{inode: NamespaceInfo}; PROCFS is /proc, open."""
    processes = kernel.time_ns_of_processes(procfs)
    pages = stale.sweep(rundir, processes)  # {inode: PageView} of live namespaces
    found = {}
    offsets_from = {}  # inode -> a pid whose timens_offsets describe it
    for pid, inode, children in processes:
        info = found.get(inode)
        if info is None:
            info = found[inode] = NamespaceInfo(inode)
        info.pids.append(pid)
        if children not in offsets_from:
            offsets_from[children] = pid
            if children not in found:
                found[children] = NamespaceInfo(children)
    for inode, name in named_namespaces(rundir).items():
        found.setdefault(inode, NamespaceInfo(inode)).name = name
    for inode, info in found.items():
        info.host = inode == kernel.HOST_TIME_NS_INODE
        info.pids.sort()
        if info.pids:
            info.command = kernel.command_of(info.pids[0], procfs)
        if inode in offsets_from:
            try:
                offsets = kernel.read_offsets(offsets_from[inode], procfs)
                info.monotonic, info.boottime = offsets.get("monotonic"), offsets.get("boottime")
            except (OSError, ValueError):
                pass
        if info.monotonic is None and info.name is not None:
            # no process tells: what timens recorded when it made the namespace
            meta = rundir.read_meta(info.name)
            if meta.get("inode") == inode:
                info.monotonic, info.boottime = meta.get("monotonic_ns"), meta.get("boottime_ns")
        if info.host:
            info.monotonic = info.monotonic or 0
            info.boottime = info.boottime or 0
        view = pages.get(inode)
        if view is not None:
            info.realtime, info.frozen_at = view.realtime_offset_ns, view.frozen_at_ns
            info.advanced = (view.monotonic_ns, view.boottime_ns)
    return found


def named_namespaces(rundir):
    """{inode: name} of the names bind-mounted in the run directory; a name
    that is not a mount point is a create in progress, or stale."""
    names = rundir.names()
    if not names:
        return {}
    mounts = kernel.mount_points()
    named = {}
    for name in names:
        try:
            path = rundir.ns_file(name)
            if str(path) in mounts:
                named[os.stat(path).st_ino] = name
        except (OSError, ValueError):  # gone, or a name timens would not make
            continue
    return named
