"""Find every time namespace on the system, named or not, made by timens or not.

A namespace is seen through the processes in it (/proc/PID/ns/time), the
processes that made it for their children (ns/time_for_children) and the
names bind-mounted in the run directory. Processes we may not inspect are
skipped, so a normal user sees the namespaces of their own processes.
"""
from dataclasses import dataclass, field

from . import kernel, stale
from .page import ClockPage, PageError
from .rundir import RunDir


@dataclass
class NamespaceInfo:
    inode: int
    name: str | None = None
    host: bool = False
    monotonic: int | None = None  # offsets in ns; None when nobody can tell
    boottime: int | None = None
    realtime: int | None = None
    frozen_at: int | None = None  # the instant REALTIME stands at, None if it runs
    advanced: tuple | None = None  # (MONOTONIC, BOOTTIME) advance from the page, None without one
    pids: list = field(default_factory=list)
    command: str | None = None

    @property
    def frozen(self):
        return self.frozen_at is not None

    @property
    def pid(self):
        return self.pids[0] if self.pids else None

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
    stale.sweep(rundir)
    found = {}
    offsets_from = {}  # inode -> a pid whose timens_offsets describe it
    opens = {}  # inode -> a path that opens the namespace (for its kernel id)
    for pid in kernel.list_pids():
        inode = kernel.ns_inode_of_link(pid, "time")
        if inode is None:
            continue
        found.setdefault(inode, NamespaceInfo(inode)).pids.append(pid)
        opens.setdefault(inode, kernel.proc(pid, "ns", "time"))
        children = kernel.ns_inode_of_link(pid, "time_for_children")
        if children is not None:
            offsets_from.setdefault(children, pid)
            found.setdefault(children, NamespaceInfo(children))
            opens.setdefault(children, kernel.proc(pid, "ns", "time_for_children"))
    for name in rundir.names():
        try:
            inode = rundir.ns_file(name).stat().st_ino
        except (OSError, ValueError):
            continue
        if not kernel.is_mount_point(rundir.ns_file(name)):
            continue  # a placeholder of a create in progress, or stale
        info = found.setdefault(inode, NamespaceInfo(inode))
        opens.setdefault(inode, rundir.ns_file(name))
        info.name = name
        meta = rundir.read_meta(name)
        if meta.get("inode") == inode:
            info.monotonic, info.boottime = meta.get("monotonic_ns"), meta.get("boottime_ns")
    for inode, info in found.items():
        info.host = inode == kernel.HOST_TIME_NS_INODE
        info.pids.sort()
        if info.pids:
            info.command = kernel.command_of(info.pids[0])
        if inode in offsets_from:
            try:
                offsets = kernel.read_offsets(offsets_from[inode])
                info.monotonic, info.boottime = offsets.get("monotonic"), offsets.get("boottime")
            except (OSError, ValueError):
                pass
        if info.host:
            info.monotonic = info.monotonic or 0
            info.boottime = info.boottime or 0
        view = page_view(rundir, inode, opens.get(inode))
        if view is not None:
            info.realtime, info.frozen_at = view.realtime_offset_ns, view.frozen_at_ns
            info.advanced = (view.monotonic_ns, view.boottime_ns)
    return sorted(found.values(), key=lambda i: (not i.host, i.inode))


def page_view(rundir, inode, ns_path):
    """The namespace's page as a PageView; None if it has none, or only one
    made for an earlier namespace of that inode."""
    path = rundir.page_file(inode)
    if not kernel.is_regular_file(path):
        return None
    try:
        with ClockPage.open(path, writable=False) as page:
            view = page.read()
    except (OSError, PageError):
        return None
    if ns_path is None or stale.is_stale(view.ns_id, stale.live_id(ns_path)):
        return None
    return view
