"""`TimeNamespace`: one kernel time namespace, plus its clock page if any.

The kernel namespace is the identity: an open nsfs file descriptor (and, for
a namespace owned by another user namespace, that one too). A REALTIME
offset lives in the page `<rundir>/pages/<inode>`, which libtimens.so finds
from /proc/self/ns/time in every process inside.

All values the user gives are relative to the clocks the caller sees, so
that timens behaves the same on the host and nested inside a namespace.
"""
import os
import time
from collections import namedtuple

from . import errors, kernel, stale, vdso
from .errors import boundary
from .offsets import (  # noqa: F401  (caller_page_path, REALTIME_LIMIT_NS: part of this module's API)
    REALTIME_LIMIT_NS, as_value, caller_page_path, caller_realtime_offset, check_realtime, kernel_offsets,
    realtime_offset,
)
from .files import remove
from .page import ClockPage, PageBusy, PageError
from .rundir import RunDir, trusted_rundir, validate_name
from .spawn import pop_preload
from .values import INSTANT, KERNEL_CLOCKS, TARGET, join_ns

class Offsets(namedtuple("Offsets", "monotonic boottime realtime", defaults=(0, 0, None))):
    """Offsets in nanoseconds against the host's clocks (not the caller's).

    realtime is None when the namespace has no clock page (host REALTIME).
    """

    __slots__ = ()

    def as_json(self):
        return {"monotonic_ns": self.monotonic, "boottime_ns": self.boottime, "realtime_ns": self.realtime}


def resolve_offsets(monotonic=None, boottime=None, realtime=None):
    """Turn what the user asked into host-relative offsets, checking the ranges."""
    return Offsets(**kernel_offsets(monotonic, boottime), realtime=realtime_offset(realtime))


class TimeNamespace:
    """A kernel time namespace held open by file descriptor.

    Make one with `create()` (anonymous or named), or open one with
    `open(name)` or `from_pid(pid)`. Run commands in it with `popen()` or
    `run()`, shaped like `subprocess`. Close it (or use `with`) to drop the
    reference; a named namespace lives on until `delete()`.
    """

    def __init__(self, time_fd, *, user_fd=None, name=None, pid=None, offsets=None, rundir=None):
        self._time_fd = kernel.above_stdio(time_fd)
        self._user_fd = None if user_fd is None else kernel.above_stdio(user_fd)
        self.name = name
        self.pid = pid
        self._offsets = offsets
        self.rundir = rundir or RunDir()
        self.inode = os.fstat(self._time_fd).st_ino

    def __repr__(self):
        label = f"name={self.name!r}" if self.name else f"pid={self.pid}" if self.pid else "anonymous"
        return f"<TimeNamespace inode={self.inode} {label}>"

    # ------------------------------------------------------------ making

    @classmethod
    @boundary("create the namespace")
    def create(cls, name=None, *, monotonic=None, boottime=None, realtime=None, freeze=False, rundir=None):
        """Make a new namespace; with a name, persist it in the run directory.

        Values are offsets ("+1d", int nanoseconds), targets ("=400d") or,
        for realtime, instants ("@2038-01-19T03:14:07Z"). With freeze,
        REALTIME inside stands still at what it reads at creation.
        """
        rundir = rundir if isinstance(rundir, RunDir) else RunDir(rundir)
        if name is not None:
            validate_name(name)
        offsets = resolve_offsets(monotonic, boottime, realtime)
        if freeze:
            if offsets.realtime is None:
                offsets = offsets._replace(realtime=0)  # frozen REALTIME lives in a page
            at = as_value(realtime, "realtime")
            freeze = at.ns if at is not None and at.kind == INSTANT else True  # @DATE: exactly there
        stale.sweep(rundir)
        if name is None:
            return cls._create_anonymous(offsets, rundir, freeze)
        return cls._create_named(name, offsets, rundir, freeze)

    @classmethod
    def _create_anonymous(cls, offsets, rundir, freeze=False):
        holder = kernel.Holder(kernel_dict(offsets))
        time_fd = user_fd = None
        try:
            time_fd = os.open(holder.ns_path("time_for_children"), os.O_RDONLY | os.O_CLOEXEC)
            if holder.map_user and kernel.must_join_user_namespace():
                user_fd = os.open(holder.ns_path("user"), os.O_RDONLY | os.O_CLOEXEC)
            ns = cls(time_fd, user_fd=user_fd, offsets=offsets, rundir=rundir)  # owns the fds now
        except BaseException:
            for fd in (time_fd, user_fd):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            holder.release()
        try:
            ns._set_up_page(offsets.realtime, freeze)
        except BaseException:
            ns.close()
            raise
        return ns

    @classmethod
    def _create_named(cls, name, offsets, rundir, freeze=False):
        """ip-netns style: placeholder, holder, bind mount; one cleanup path."""
        if os.geteuid() != 0:
            raise errors.PermissionDenied(
                f'cannot create named namespace "{name}": named namespaces are bind mounts '
                "and need root (CAP_SYS_ADMIN); use 'timens run' as a normal user"
            )
        rundir.ensure("ns_dir")
        target = rundir.ns_file(name)
        try:
            place = os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o444)
        except FileExistsError:
            raise errors.NamespaceExists(f'namespace "{name}" exists already') from None
        except OSError as err:
            raise errors.PermissionDenied(f'cannot create namespace file "{target}": {err.strerror}') from err
        placeholder = os.fstat(place).st_ino
        holder = ns = None
        try:
            holder = kernel.Holder(kernel_dict(offsets))
            try:
                # Onto our placeholder through its fd: if a racing delete
                # removed it, the mount fails, instead of landing on another
                # create's placeholder at the same path.
                kernel.bind_mount(holder.ns_path("time_for_children"), f"/proc/self/fd/{place}")
            except OSError as err:
                raise errors.PermissionDenied(
                    f'cannot bind-mount namespace file "{target}": {err.strerror}; '
                    "named namespaces need CAP_SYS_ADMIN: run as root"
                ) from err
            ns = cls(kernel.open_time_ns(target, name), name=name, offsets=offsets, rundir=rundir)
            if ns.inode != os.stat(holder.ns_path("time_for_children")).st_ino:
                raise errors.TimensError(f'namespace "{name}" was deleted while it was being created')
            ns._set_up_page(offsets.realtime, freeze)
            rundir.write_meta(name, {"name": name, "inode": ns.inode, "created": time.time(), **offsets.as_json()})
            return ns
        except BaseException:
            made = holder and kernel.ns_inode_of_link(holder.pid, "time_for_children")
            if ns is not None:
                ns.close()
            if made:
                try:
                    remove(rundir.page_file(made))
                except OSError:
                    pass  # no page was made: its place is not even a directory
                if _inode_at(target, os.stat) == made:
                    kernel.detach_mount(target)
            if _inode_at(target, os.lstat) == placeholder:
                remove(target)
                rundir.remove_meta(name)
            raise
        finally:
            os.close(place)
            if holder:
                holder.release()

    def _refuse_host(self):
        """The host's time namespace never gets a page: every process that
        enters it later (timens exec --pid 1) would run at its time."""
        if self.inode == kernel.HOST_TIME_NS_INODE:
            who = f"process {self.pid}" if self.pid else "this namespace"
            raise errors.TimensError(
                f"{who} runs in the host's time namespace, whose REALTIME timens does not change; "
                "start the process with 'timens run' (or in a named namespace) to give it its own clocks"
            )

    def _set_up_page(self, realtime_offset, freeze=False):
        """A new namespace's page: made with REALTIME_OFFSET (and FREEZE, as
        for _make_page), or none at all (any page at this inode belongs to a
        dead namespace). True if made."""
        if realtime_offset is not None:
            self._make_page(realtime_offset, freeze)
            return True
        try:
            remove(self.rundir.page_file(self.inode))
        except OSError:
            pass  # not ours to remove; its ns_id keeps libtimens from using it
        return False

    def _make_page(self, realtime_offset, freeze=False):
        """A fresh page; FREEZE: True stops REALTIME now, an int at that instant."""
        self._refuse_host()
        self.rundir.ensure("pages_dir")
        path = self.rundir.page_file(self.inode)
        # A file already there is stale (a dead namespace whose inode the
        # kernel reused) or no page at all: replace it. Processes that
        # mapped it keep their mapping; new ones get this page.
        remove(path)
        with ClockPage.create(path, realtime_offset, ns_id=kernel.ns_id(self._time_fd)) as page:
            if freeze is not False:
                page.freeze(None if freeze is True else freeze)

    # ------------------------------------------------------------ opening

    @classmethod
    @boundary("open the namespace")
    def open(cls, name, *, rundir=None):
        """Open the named namespace NAME."""
        rundir = rundir if isinstance(rundir, RunDir) else RunDir(rundir)
        path = rundir.ns_file(name)
        if not os.path.exists(path):
            raise errors.NoSuchNamespace(f'no namespace named "{name}" (see: timens list)')
        fd = kernel.open_time_ns(path, f'"{name}"')
        meta = rundir.read_meta(name)
        offsets = None
        if meta.get("inode") == os.fstat(fd).st_ino:
            offsets = Offsets(meta["monotonic_ns"], meta["boottime_ns"], meta.get("realtime_ns"))
        return cls(fd, name=name, offsets=offsets, rundir=rundir)

    @classmethod
    @boundary("open the namespace of the process")
    def from_pid(cls, pid, *, rundir=None):
        """Open the time namespace process PID lives in.

        Its clock page is looked up in RUNDIR, by default the caller's run
        directory or the one the process's environment names
        (TIMENS_RUNDIR), if that one is owned by root or the caller and
        writable by no one else: another user's process must not choose
        where the caller reads or writes.
        """
        pid = parse_pid(pid)
        if not kernel.process_exists(pid):
            raise errors.NoSuchNamespace(f"no process with pid {pid}")
        fd = kernel.open_time_ns(kernel.proc(pid, "ns", "time"), f"of pid {pid}")
        user_fd = kernel.owning_userns_fd(fd) if kernel.must_join_user_namespace() else None
        if rundir is None:
            named = kernel.environ_of(pid).get("TIMENS_RUNDIR")
            rundir = named if named and trusted_rundir(named) else None
        rundir = rundir if isinstance(rundir, RunDir) else RunDir(rundir)
        return cls(fd, user_fd=user_fd, pid=pid, rundir=rundir)

    # ------------------------------------------------------------ state

    @property
    def page_path(self):
        """The page's path, if a page is there (a regular file: nothing that can hang a reader)."""
        path = self.rundir.page_file(self.inode)
        return path if kernel.is_regular_file(path) else None

    def _check_open(self):
        if self._time_fd < 0:
            raise errors.TimensError("this TimeNamespace is closed")

    @boundary("read the clock page")
    def realtime_offset(self):
        """REALTIME offset in ns, or None when the namespace has no page."""
        state = self.clock_state()
        return None if state is None else state.realtime_offset_ns

    @boundary("read the offsets")
    def offsets(self):
        """Kernel offsets (as the kernel reports them) and the REALTIME offset."""
        self._check_open()
        kern = None
        if self._offsets is not None:
            kern = {"monotonic": self._offsets.monotonic, "boottime": self._offsets.boottime}
        elif self.pid and kernel.ns_inode_of_link(self.pid, "time_for_children") == self.inode:
            try:
                kern = kernel.read_offsets(self.pid)
            except OSError:
                kern = None
        if kern is None:
            kern = self.clocks()["offsets"]
        return Offsets(kern.get("monotonic", 0), kern.get("boottime", 0), self.realtime_offset())

    @boundary("set REALTIME")
    def set_realtime(self, value):
        """Change REALTIME for every process inside, live (from their next read).

        VALUE means what it means at creation: an offset from the caller's
        REALTIME (not added to the namespace's current offset), or @DATE.
        """
        self._check_open()
        value = as_value(value, "realtime")
        if value is None:
            raise errors.BadValue("realtime: give an offset or @DATE, not None")
        self._refuse_host()
        has_page = self.page_path is not None  # not read: a broken page gets rewritten
        own = caller_realtime_offset()
        host_now = time.time_ns() - own
        if value.kind == TARGET:
            raise errors.BadValue("realtime takes an offset or @DATE, not =VALUE")
        offset = value.ns - host_now if value.kind == INSTANT else own + value.ns
        check_realtime(offset, str(value), host_now)
        # One setter at a time, so that the page and the metadata agree.
        with self.rundir.locked():
            if not has_page:
                self._make_page(offset)
            else:
                try:
                    with ClockPage.open(self.page_path) as page:
                        if value.kind == INSTANT:
                            page.set_realtime_now(value.ns)  # exactly @DATE, frozen or not
                        else:
                            page.set_realtime_offset(offset)
                except PageBusy:
                    raise
                except PageError:  # not a page any more (truncated, overwritten)
                    self._make_page(offset)
            for injected in self.rundir.injected_pages(self.inode):  # inject.py's per-process pages
                with ClockPage.open(injected) as page:
                    page.set_realtime_offset(offset)
            if self.name:
                meta = self.rundir.read_meta(self.name)
                if meta:
                    self.rundir.write_meta(self.name, {**meta, "realtime_ns": offset})
        return offset

    # ------------------------------------------------------------ freeze, advance

    @boundary("read the clock page")
    def clock_state(self):
        """The page as a PageView (frozen, frozen_at_ns, the MONOTONIC and
        BOOTTIME advance, ...), or None when the namespace has no page."""
        path = self.page_path
        if path is None:
            return None
        with ClockPage.open(path, writable=False) as page:
            return page.read()

    @boundary("freeze REALTIME")
    def freeze(self, at=None):
        """Stop REALTIME for every process inside, at what it reads now or
        at AT (an offset from the caller's REALTIME, or @DATE)."""
        at_ns = None
        if at is not None:
            from .travel import freeze_instant, host_realtime_ns

            at_ns = freeze_instant(as_value(at, "realtime"), caller_realtime_offset(), host_realtime_ns())
        self._change_page("freeze", lambda page: page.freeze(at_ns))

    @boundary("unfreeze REALTIME")
    def unfreeze(self):
        """REALTIME runs on from the frozen instant (no jump)."""
        if self.page_path is not None:
            self._change_page("unfreeze", lambda page: page.unfreeze())

    @boundary("advance the clocks")
    def advance(self, delta):
        """Move REALTIME, MONOTONIC and BOOTTIME forward by DELTA for every
        process inside that loaded libtimens.so; DELTA >= 0."""
        from .travel import advance_ns

        ns = advance_ns(as_value(delta, "advance"))
        self._change_page("advance", lambda page: page.advance(ns))

    def _change_page(self, verb, change):
        """Apply CHANGE to the page, making one first if no process can miss it."""
        self._check_open()
        self._refuse_host()
        with self.rundir.locked():
            if self.page_path is None:
                if stale.has_processes(self.inode):
                    raise errors.TimensError(
                        f"cannot {verb} {self._label()}: it has no clock page, so the processes already "
                        "running in it did not load libtimens.so and cannot be reached; make the namespace "
                        "with --freeze or --realtime +0 so that its processes load it"
                    )
                self._make_page(0)
            with ClockPage.open(self.page_path) as page:
                change(page)
                offset = page.read().realtime_offset_ns
            if self.name:
                meta = self.rundir.read_meta(self.name)
                if meta:
                    self.rundir.write_meta(self.name, {**meta, "realtime_ns": offset})

    def _label(self):
        if self.name:
            return f'namespace "{self.name}"'
        return f"the namespace of pid {self.pid}" if self.pid else f"namespace {self.inode}"

    # ------------------------------------------------------------ running

    @boundary("enter the namespace")
    def enter_argv(self, args, env=None, vdso_patch=True, program=None, err_fd=None):
        """argv, env and fds that run ARGS inside via timens-helper: the
        helper execs PROGRAM (default ARGS[0]) and, with ERR_FD, reports a
        failed exec there. With a page, the command runs under the vDSO
        patch unless VDSO_PATCH is false."""
        self._check_open()
        env = dict(os.environ if env is None else env)
        preload = pop_preload(env)
        exec_options = (["-e", str(err_fd)] if err_fd is not None else []) + (["-x", program] if program else [])
        if self.page_path is not None:
            preload.insert(0, str(kernel.LIBTIMENS))
            env["TIMENS_RUNDIR"] = os.path.abspath(self.rundir.root)
            env.pop("TIMENS_PAGE", None)
            tracer_args = vdso.traced(args, self.page_path, env, exec_options) if vdso_patch else None
            if tracer_args is not None:
                args, exec_options = tracer_args, []
        argv = [str(kernel.HELPER), "enter", "-t", str(self._time_fd), "-p", " ".join(preload), *exec_options]
        fds = [self._time_fd]
        if self._user_fd is not None:
            argv += ["-u", str(self._user_fd)]
            fds.append(self._user_fd)
        return argv + ["--", *args], env, fds

    def popen(self, args, **kwargs):
        """subprocess.Popen, with the child inside this namespace."""
        return __getattr__("Popen")(args, namespace=self, **kwargs)

    def run(self, args, **kwargs):
        """subprocess.run, with the child inside this namespace."""
        return run(args, namespace=self, **kwargs)

    @boundary("read the clocks inside")
    def clocks(self):
        """Read the clocks inside, at one instant, from a process in the namespace."""
        import subprocess

        argv, env, fds = self.enter_argv([str(kernel.HELPER), "clocks"], vdso_patch=False)
        proc = subprocess.run(argv, env=env, pass_fds=fds, capture_output=True, text=True)
        if proc.returncode != 0:
            raise kernel.helper_error(proc.stderr)
        readings, offsets = {}, {}
        for line in proc.stdout.splitlines():
            key, *vals = line.split()
            if key == "offset":
                offsets[vals[0]] = join_ns(vals[1], vals[2])
            elif key == "uptime":
                readings["uptime"] = vals[0]
            elif key == "spread_ns":
                readings["spread_ns"] = int(vals[0])
            else:
                readings[key] = join_ns(vals[0], vals[1])
        readings["offsets"] = offsets
        return readings

    # ------------------------------------------------------------ ending

    def close(self):
        """Drop our references; an anonymous namespace's page goes with it.

        (A named one's page stays until delete(); one opened by pid belongs
        to whoever made it.)
        """
        if self._time_fd < 0:
            return  # closed already: the inode, and so the page path, may be another's now
        if self.name is None and self.pid is None and self.page_path and not stale.has_processes(self.inode):
            # Processes still inside (a background job of the command) keep
            # the page; a later sweep removes it once the last one is gone.
            try:
                remove(self.rundir.page_file(self.inode))
            except OSError:
                pass
        for fd in (self._time_fd, self._user_fd):
            if fd is not None and fd >= 0:
                os.close(fd)
        self._time_fd = self._user_fd = -1

    @boundary("delete the namespace")
    def delete(self):
        """Remove a named namespace: lazy unmount, unlink, metadata, page."""
        if not self.name:
            raise errors.TimensError("only a named namespace can be deleted")
        target = self.rundir.ns_file(self.name)
        page, injected_pages = self.rundir.page_file(self.inode), self.rundir.injected_pages(self.inode)
        self.close()
        try:
            kernel.detach_mount(target)
        except OSError as err:
            raise errors.PermissionDenied(f'cannot unmount namespace file "{target}": {err.strerror}') from err
        remove(target)
        self.rundir.remove_meta(self.name)
        remove(page)
        for injected in injected_pages:  # inject.py's per-process pages
            remove(injected)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_time_fd", -1) >= 0:
            self.close()


@boundary("delete the namespace")
def delete_named(name, *, rundir=None):
    """Delete the named namespace NAME, or clear a stale entry of that name.

    An entry is stale when its file is no longer a mounted namespace (after
    a reboot of a persistent run directory, or an unmount by hand).
    """
    rundir = rundir if isinstance(rundir, RunDir) else RunDir(rundir)
    try:
        ns = TimeNamespace.open(name, rundir=rundir)
    except errors.NoSuchNamespace:
        path = rundir.ns_file(name)
        if not os.path.exists(path):
            raise
        meta = rundir.read_meta(name)
        kernel.detach_mount(path)
        remove(path)
        rundir.remove_meta(name)
        if meta.get("inode"):
            remove(rundir.page_file(meta["inode"]))
        return
    ns.delete()


def _inode_at(path, stat):
    try:
        return stat(path).st_ino
    except OSError:
        return None


def kernel_dict(offsets):
    return {clock: getattr(offsets, clock) for clock in KERNEL_CLOCKS}


def parse_pid(pid):
    """A process id as the API and the CLI take it: an int, or a string of digits."""
    if isinstance(pid, bool) or not isinstance(pid, (int, str)):
        raise errors.BadValue(f"invalid pid {pid!r}: expected a process id (an integer)")
    text = str(pid).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) <= 0:
        raise errors.BadValue(f"invalid pid {pid!r}: expected a process id (a positive integer)")
    return int(text)


def __getattr__(name):
    """Popen, made on first use: it subclasses subprocess.Popen, and a
    container's create or delete (timens-runtime) runs no Popen, nor pays
    for importing subprocess (locale, re, threading, selectors)."""
    if name != "Popen":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if "Popen" in globals():  # made already, and called by name from this module
        return globals()["Popen"]
    from . import process

    class Popen(process.Popen):
        """subprocess.Popen whose child runs inside a time namespace.

        Give either `namespace=` (an open TimeNamespace) or the clock values of
        a new namespace made for this child alone (`monotonic=`, `boottime=`,
        `realtime=`, `freeze=`), which is closed, and its clock page removed,
        once the child has been waited for.
        """

        def __init__(self, args, *, namespace=None, monotonic=None, boottime=None, realtime=None, freeze=False,
                     **kwargs):
            values = {"monotonic": monotonic, "boottime": boottime, "realtime": realtime}
            if namespace is not None and (freeze or any(v is not None for v in values.values())):
                raise ValueError("give either namespace= or clock values for a new namespace, not both")
            super().__init__(args, namespace=namespace,
                             new_namespace=lambda: TimeNamespace.create(**values, freeze=freeze), **kwargs)

    Popen.__module__, Popen.__qualname__ = __name__, "Popen"
    globals()["Popen"] = Popen
    return Popen


def run(args, **kwargs):
    """subprocess.run inside a time namespace (see Popen); returns CompletedProcess."""
    from . import process

    return process.run(__getattr__("Popen"), args, **kwargs)
