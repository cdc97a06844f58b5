"""Linux specifics: /proc, nsfs, mounts and the kernel's time namespace rules.

Everything that touches the kernel directly lives here; the public objects in
`namespace.py` delegate to it. Steps that must run in a single-threaded
process right before exec (unshare, setns) are done by the `timens-helper`
program, never in this (possibly threaded) Python process.

`timens run` imports this module: what only some paths need (re,
subprocess, pathlib) is imported where it is used.
"""
import errno
import os
import time

from . import errors
from .values import KERNEL_CLOCKS, NSEC_PER_SEC, format_offset, join_ns

PROCFS = os.environ.get("TIMENS_PROCFS", "/proc")

NATIVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native")
HELPER = os.path.join(NATIVE, "timens-helper")
LIBTIMENS = os.path.join(NATIVE, "libtimens.so")

CLONE_NEWTIME = 0x80
NS_GET_USERNS = 0xB701  # _IO(0xb7, 0x1)
NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3)
NS_GET_ID = 0x8008B70D  # _IOR(0xb7, 0xd, __u64)
HOST_TIME_NS_INODE = 0xEFFFFFFA  # PROC_TIME_INIT_INO: the initial namespace

# The kernel's limits for MONOTONIC and BOOTTIME offsets (kernel/time/namespace.c).
KTIME_SEC_MAX = (2**63 - 1) // NSEC_PER_SEC
CLOCK_VALUE_MAX_NS = (KTIME_SEC_MAX // 2) * NSEC_PER_SEC + NSEC_PER_SEC - 1

CLOCK_IDS = {"monotonic": time.CLOCK_MONOTONIC, "boottime": time.CLOCK_BOOTTIME}


def proc(*parts):
    return os.path.join(PROCFS, *map(str, parts))


# ---------------------------------------------------------------- offsets


def open_procfs():
    """/proc opened once, for many reads in a row: paths relative to it
    (dir_fd below) skip resolving /proc again for every file."""
    return os.open(PROCFS, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def read_proc(pid, name, dir_fd=None):
    """The bytes of /proc/PID/NAME; OSError if the process is gone or hidden.
    Plain os calls: a buffered file object costs more than these small reads.
    DIR_FD: /proc from open_procfs()."""
    path = proc(pid, name) if dir_fd is None else f"{pid}/{name}"
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            if len(chunk) < 65536:
                # The end: the files read here (timens_offsets, comm: one seq_file
                # show; cmdline) give all that fits in one read, and a second
                # read to see EOF would cost `timens list` a read per namespace.
                break
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_offsets(pid="self", dir_fd=None):
    """Offsets of PID's time_for_children namespace, in ns: {clock: ns}."""
    offsets = {}
    for line in read_proc(pid, "timens_offsets", dir_fd).decode().splitlines():
        name, sec, nsec = line.split()
        offsets[name] = join_ns(sec, nsec)
    return offsets


def own_clocks():
    """What this process reads now, and its own kernel offsets: {clock: (reading, offset)}."""
    offsets = read_offsets("self")
    return {c: (time.clock_gettime_ns(CLOCK_IDS[c]), offsets.get(c, 0)) for c in KERNEL_CLOCKS}


def check_kernel_offset(clock, offset_ns, shown, reading_root_ns):
    """Apply the kernel's ERANGE rule before the kernel does, with a clear message.

    The clock inside (host + offset) must stay within [0, KTIME_SEC_MAX/2] s.
    """
    inside = reading_root_ns + offset_ns
    low, high = -reading_root_ns, CLOCK_VALUE_MAX_NS - reading_root_ns
    if abs(offset_ns) // NSEC_PER_SEC > KTIME_SEC_MAX or not 0 <= inside <= CLOCK_VALUE_MAX_NS:
        raise errors.OutOfRange(
            f"{clock} {shown} is out of range: {clock.upper()} would read "
            f"{format_offset(inside, 3).lstrip('+')} inside; the kernel allows 0 to "
            f"{KTIME_SEC_MAX // 2} s (about 146 years), so the offset must be "
            f"between {format_offset(low, 3)} and {format_offset(high, 3)} now"
        )


# ---------------------------------------------------------------- nsfs


def ns_inode_of_link(pid, link="time"):
    """Inode of /proc/PID/ns/LINK, or None if the process is gone or hidden."""
    try:
        return time_ns_inode(os.readlink(proc(pid, "ns", link)))
    except OSError:
        return None


def time_ns_inode(text):
    """The inode in an nsfs name of a time namespace, "time:[INODE]", or None."""
    if text.startswith("time:[") and text.endswith("]") and text[6:-1].isascii() and text[6:-1].isdigit():
        return int(text[6:-1])
    return None


def open_time_ns(path, what):
    """Open a time namespace file (nsfs) read-only; check that it is one."""
    import fcntl

    try:
        # O_NONBLOCK: a FIFO planted where a namespace file goes must not hang us.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise errors.NoSuchNamespace(f"no such time namespace: {what}") from None
    except PermissionError as err:
        hint = (
            "the process holds capabilities timens lacks (it needs CAP_SYS_PTRACE and every capability the process has)"
            if os.geteuid() == 0
            else "run as root or as the process's owner"
        )
        raise errors.PermissionDenied(f"cannot open time namespace {what}: {err.strerror}; {hint}") from err
    try:
        kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        kind = None
    if kind != CLONE_NEWTIME:
        os.close(fd)
        raise errors.NoSuchNamespace(f"{what} is not a time namespace (not mounted, or stale)")
    return fd


def ns_id(fd):
    """The kernel's id of the namespace open on FD (never reused, unlike its
    inode), or 0 where the kernel has none (before Linux 6.12: ENOTTY/EINVAL)."""
    import fcntl
    import struct

    try:
        return struct.unpack("=Q", fcntl.ioctl(fd, NS_GET_ID, bytes(8)))[0]
    except OSError as err:
        if err.errno in (errno.ENOTTY, errno.EINVAL):
            return 0
        raise


def above_stdio(fd):
    """FD moved to 3 or above. When timens runs with stdin (say) closed, a
    namespace fd can land on 0, where a child's redirections would clobber it."""
    if fd > 2:
        return fd
    import fcntl

    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    return new


def owning_userns_fd(time_fd):
    """The user namespace that owns a time namespace, if it is not ours."""
    import fcntl

    try:
        user_fd = fcntl.ioctl(time_fd, NS_GET_USERNS)
    except OSError:
        return None
    if os.fstat(user_fd).st_ino == os.stat(proc("self", "ns", "user")).st_ino:
        os.close(user_fd)
        return None
    return user_fd


# ---------------------------------------------------------------- mounts


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def bind_mount(source, target):
    import ctypes

    MS_BIND = 4096
    if _libc().mount(os.fsencode(source), os.fsencode(target), None, MS_BIND, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(target))


def detach_mount(target):
    """Lazily unmount everything mounted at TARGET (racing creates may have
    stacked more than one mount there)."""
    import ctypes

    MNT_DETACH = 2
    for _ in range(64):
        if _libc().umount2(os.fsencode(target), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err not in (errno.EINVAL, errno.ENOENT):  # not a mount point: nothing (more) to undo
                raise OSError(err, os.strerror(err), str(target))
            return


def mounts():
    """(root, mount point) of every mount this process sees, unescaped."""
    try:
        with open(proc("self", "mountinfo"), "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            out.append((_unescape(fields[3]), _unescape(fields[4])))
    return out


def _unescape(field):
    """mountinfo writes space, tab, newline and backslash as \\ooo octal."""
    import re

    return os.fsdecode(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field))


def mount_points():
    """Every mount point this process sees, unescaped."""
    return {mount_point for _, mount_point in mounts()}


def is_mount_point(path):
    return os.fspath(path) in mount_points()


# ---------------------------------------------------------------- creating


# Python ignores these; a child must start with them at their defaults (as subprocess does).
RESTORED_SIGNALS = (13, 25)  # SIGPIPE, SIGXFSZ


class Holder:
    """A `timens-helper hold` process: owner of a new namespace with no one inside.

    While it waits, its time_for_children (and user) namespaces can be opened
    or bind-mounted. `release()` lets it exit; the namespace lives on as long
    as something refers to it.
    """

    def __init__(self, offsets_ns):
        self.map_user, words = plan_namespace(offsets_ns)
        map_user = self.map_user
        args = [HELPER, "hold"] + (["--map-user"] if map_user else []) + (words or [])
        # Started as subprocess.Popen would (three pipes, SIGPIPE and SIGXFSZ
        # at their defaults), without importing subprocess: a container's
        # create pays for no more than this. The helper holds no fd of ours
        # but the pipes and stdio past the moment it is released.
        ends = [[above_stdio(fd) for fd in os.pipe()] for _ in range(3)]  # stdin, stdout, stderr
        self._fds = [ends[0][1], ends[1][0], ends[2][0]]  # ours: what we write, what we read
        try:
            self.pid = os.posix_spawn(HELPER, args, os.environ, setsigdef=RESTORED_SIGNALS, file_actions=[
                (os.POSIX_SPAWN_DUP2, ends[0][0], 0), (os.POSIX_SPAWN_DUP2, ends[1][1], 1),
                (os.POSIX_SPAWN_DUP2, ends[2][1], 2)])
        except BaseException:
            self._close()
            raise
        finally:
            for fd in (ends[0][0], ends[1][1], ends[2][1]):
                os.close(fd)
        line = _read_line(self._fds[1])
        if line != b"ready\n":
            stderr = _read_all(self._fds[2]).decode(errors="replace")
            self.release()
            raise helper_error(stderr, map_user)

    def ns_path(self, link):
        return proc(self.pid, "ns", link)

    def release(self):
        if self._fds and self._fds[0] is not None:
            os.close(self._fds[0])  # EOF on its stdin: it exits
            self._fds[0] = None
            os.waitpid(self.pid, 0)
        self._close()

    def _close(self):
        for fd in self._fds:
            if fd is not None:
                os.close(fd)
        self._fds = []


def _read_line(fd):
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        line += chunk
    return line


def _read_all(fd):
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return data


def plan_namespace(offsets_ns):
    """How timens-helper makes a namespace with OFFSETS_NS ({clock: ns}):
    (in a user namespace of its own?, the offsets' words "S N S N" or None)."""
    # A new namespace starts with the creator's offsets; write only a change,
    # since writing needs CAP_SYS_TIME even to write the same values.
    writes = offsets_ns != {c: own for c, (_, own) in own_clocks().items()}
    words = None
    if writes:
        words = [str(n) for clock in KERNEL_CLOCKS for n in divmod(offsets_ns.get(clock, 0), NSEC_PER_SEC)]
    return needs_user_namespace(writes), words


CAP_SYS_ADMIN, CAP_SYS_TIME = 21, 25


def effective_capabilities():
    with open(proc("self", "status")) as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def needs_user_namespace(writes_offsets):
    """Make the namespace inside a user namespace of our own?

    Yes for a normal user, and for a root that lacks CAP_SYS_ADMIN, or
    CAP_SYS_TIME when offsets are to be written: commands timens starts run
    without CAP_SYS_TIME, so this is how timens nests inside itself.
    """
    if os.geteuid() != 0:
        return True
    caps = effective_capabilities()
    if not caps >> CAP_SYS_ADMIN & 1:
        return True
    return writes_offsets and not caps >> CAP_SYS_TIME & 1


def must_join_user_namespace():
    """To enter a time namespace owned by another user namespace, a process
    needs CAP_SYS_ADMIN here too; without it, join the owner first. A root
    that has it stays in the host's user namespace, with its privileges."""
    return os.geteuid() != 0 or not effective_capabilities() >> CAP_SYS_ADMIN & 1


def helper_error(stderr, map_user=False):
    """Turn `timens-helper: STEP: ERRNO (text)` into the right TimensError."""
    import re

    match = re.search(r"timens-helper: ([\w-]+): (\w+) \((.*)\)", stderr)
    if not match:
        text = stderr.strip().splitlines()[-1] if stderr.strip() else "timens-helper failed"
        return errors.TimensError(text.removeprefix("timens: "))
    step, name, text = match.groups()
    if step == "offsets" and name == "ERANGE":
        return errors.OutOfRange("the kernel refused the offsets (ERANGE): a clock would leave 0 to 146 years")
    if step == "offsets" and name == "EACCES":
        return errors.OffsetsFrozen("offsets are fixed once a process has entered the namespace (EACCES)")
    if name in ("EPERM", "EACCES", "ENOSPC", "EUSERS") or step.startswith("unshare"):
        if name == "ENOSPC":  # strerror says "No space left on device"
            text = "the limit on user namespaces is reached (ENOSPC)"
        return errors.PermissionDenied(permission_advice(step, text, map_user))
    return errors.TimensError(f"cannot create time namespace ({step}): {text}")


def permission_advice(step, text, map_user):
    if step == "unshare-user" or step == "map-user":
        try:
            with open(proc("sys", "user", "max_user_namespaces")) as f:
                limit = f.read().strip()
        except OSError:
            limit = "?"
        return (
            f"cannot create a user namespace: {text}; a non-root user needs unprivileged "
            f"user namespaces (user.max_user_namespaces is {limit}), or run timens as root"
        )
    if step == "offsets":
        return f"cannot set offsets: {text}; this needs CAP_SYS_TIME: run as root"
    hint = "run as root" if not map_user else "check that user namespaces are allowed"
    return f"cannot create a time namespace: {text}; this needs CAP_SYS_ADMIN: {hint}"


# ---------------------------------------------------------------- processes


def list_pids():
    for entry in os.scandir(PROCFS):
        if entry.name.isdigit():
            yield int(entry.name)


def time_ns_of_processes(dir_fd=None):
    """[(pid, inode of ns/time, inode of ns/time_for_children)] for every
    process we may inspect, in one pass over /proc: two readlinks per
    process and nothing else. DIR_FD: /proc from open_procfs()."""
    procfd = open_procfs() if dir_fd is None else dir_fd
    found = []
    try:
        for entry in os.scandir(procfd):
            name = entry.name
            if not name.isdigit():
                continue
            try:
                time_ns = os.readlink(name + "/ns/time", dir_fd=procfd)
                children = os.readlink(name + "/ns/time_for_children", dir_fd=procfd)
            except OSError:  # gone, or not ours to inspect
                continue
            # both read "time:[INODE]"
            found.append((int(name), int(time_ns[6:-1]), int(children[6:-1])))
    finally:
        if dir_fd is None:
            os.close(procfd)
    return found


def command_of(pid, dir_fd=None):
    """A short command line for display, or None if the process is gone."""
    try:
        argv = read_proc(pid, "cmdline", dir_fd).rstrip(b"\0").split(b"\0")
        if argv and argv[0]:
            # One decode of the joined words: a space ends any broken UTF-8
            # sequence, so this is each word decoded and joined, for less.
            return b" ".join(argv).decode(errors="replace")
        return "[" + read_proc(pid, "comm", dir_fd).decode(errors="replace").strip() + "]"
    except OSError:
        return None


def environ_of(pid):
    """PID's environment as a dict, or {} if we may not read it."""
    try:
        with open(proc(pid, "environ"), "rb") as f:
            items = f.read().split(b"\0")
    except OSError:
        return {}
    return dict(i.decode(errors="replace").split("=", 1) for i in items if b"=" in i)


def process_exists(pid):
    return os.path.exists(proc(pid))


def is_regular_file(path):
    """Is PATH itself (not through a symlink) a regular file? Only those are
    opened as pages: a FIFO or device there could hang the opener."""
    import stat

    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
