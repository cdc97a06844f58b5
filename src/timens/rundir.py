"""The run directory: named namespaces, their metadata and the clock pages.

    <rundir>/ns/NAME          bind mount of the namespace file, as /run/netns
    <rundir>/meta/NAME.json   what timens knows of NAME (written atomically)
    <rundir>/pages/INODE      clock page of the namespace with that inode

Where it is follows one rule, the same as libtimens's (page.c, run_dir()):
TIMENS_RUNDIR if set; /run/timens if the effective uid is 0;
$XDG_RUNTIME_DIR/timens; else /tmp/timens-EUID (made 0700 and checked to be
ours). Modes are set explicitly, whatever the umask: directories 0755 (so
that a program that dropped root inside can still read its page), 0700 for
the private /tmp one, files 0644. Files are only ever created inside it.
"""
import os
import stat

from . import errors
from .layout import DEFAULT_RUNDIR, PAGES_SUBDIR

NAME_MAX = 64
META_SUBDIR = "meta"
DIR_MODE, PRIVATE_DIR_MODE, FILE_MODE = 0o755, 0o700, 0o644


def default_rundir():
    if os.environ.get("TIMENS_RUNDIR"):
        return os.path.abspath(os.environ["TIMENS_RUNDIR"])
    if os.geteuid() == 0:
        return DEFAULT_RUNDIR
    if os.environ.get("XDG_RUNTIME_DIR"):
        return os.path.join(os.environ["XDG_RUNTIME_DIR"], "timens")
    return f"/tmp/timens-{os.geteuid()}"


def validate_name(name):
    """Refuse names that are empty, too long, or could escape the directory."""
    if not isinstance(name, str):
        raise errors.BadValue(f"a namespace name is a string, not {type(name).__name__}")
    if not name:
        raise errors.BadValue("namespace name is empty")
    if len(name.encode(errors="surrogateescape")) > NAME_MAX:
        raise errors.BadValue(f"namespace name {name[:20]!r}... is longer than {NAME_MAX} bytes")
    if name in (".", "..") or "/" in name or "\0" in name or name.startswith("-"):
        raise errors.BadValue(f"invalid namespace name {name!r}: no '/', '.', '..' or leading '-'")
    if not name.isprintable() or any(c.isspace() for c in name):
        raise errors.BadValue(f"invalid namespace name {name!r}: no spaces or control characters")
    if name.startswith("("):
        raise errors.BadValue(f"invalid namespace name {name!r}: '(' starts the labels timens shows, as (host)")
    return name


def trusted_rundir(path):
    """May the caller use run directory PATH, named by someone else (another
    process's environment)? Only if it and its pages directory are real
    directories owned by root or the caller and writable by no one else."""
    real = os.path.realpath(path)
    for candidate in (real, os.path.join(real, PAGES_SUBDIR)):
        try:
            info = os.lstat(candidate)
        except FileNotFoundError:
            continue  # nothing there to be misled by
        except OSError:
            return False
        if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (0, os.geteuid()):
            return False
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
    return True


class RunDir:
    """The run directory at PATH (default_rundir() if not given).

    Its paths are strings: pathlib costs a `timens list` or a container's
    create a fifth of its start-up, and `path` (a pathlib.Path, for callers
    that want one) imports it only when asked for.
    """

    def __init__(self, path=None):
        self.root = os.path.normpath(os.fspath(path) if path else default_rundir())

    def __repr__(self):
        return f"RunDir({self.root!r})"

    @property
    def path(self):
        from pathlib import Path

        return Path(self.root)

    @property
    def ns_dir(self):
        return os.path.join(self.root, "ns")

    @property
    def meta_dir(self):
        return os.path.join(self.root, META_SUBDIR)

    @property
    def pages_dir(self):
        return os.path.join(self.root, PAGES_SUBDIR)

    def ns_file(self, name):
        return os.path.join(self.ns_dir, validate_name(name))

    def meta_file(self, name):
        return os.path.join(self.meta_dir, validate_name(name) + ".json")

    def page_file(self, inode):
        from .page import page_path

        return page_path(self.root, inode)

    def injected_pages(self, inode):
        """The per-process pages inject.py made for the namespace INODE (INODE.inject-PID)."""
        prefix = f"{int(inode)}.inject-"
        try:
            return [e.path for e in os.scandir(self.pages_dir) if e.name.startswith(prefix)]
        except FileNotFoundError:
            return []

    def injected_page(self, inode, pid):
        return os.path.join(self.pages_dir, f"{int(inode)}.inject-{int(pid)}")

    def ensure(self, *subdirs):
        """Create the run directory (and SUBDIRS) if needed, with their modes."""
        private = not os.environ.get("TIMENS_RUNDIR") and self.root.startswith("/tmp/")
        for path in (self.root, *(getattr(self, d) for d in subdirs)):
            try:
                try:
                    os.mkdir(path)
                except FileNotFoundError:
                    if path != self.root:
                        raise
                    os.makedirs(path)  # and its parents
            except FileExistsError:
                pass
            except OSError as err:
                raise errors.PermissionDenied(
                    f'cannot create run directory "{path}": {err.strerror}; '
                    "set TIMENS_RUNDIR to a writable directory"
                ) from err
            else:
                os.chmod(path, PRIVATE_DIR_MODE if private and path == self.root else DIR_MODE)
            if not os.path.isdir(path):
                raise errors.TimensError(f'"{path}" is in the way of the run directory: it is not a directory')
        if private:
            info = os.lstat(self.root)
            if info.st_uid != os.geteuid() or not stat.S_ISDIR(info.st_mode):
                raise errors.PermissionDenied(f'run directory "{self.root}" is not a directory owned by you')

    def locked(self):
        """A context that holds the run directory's writers' lock (flock on it)."""
        import contextlib
        import fcntl

        self.ensure()

        @contextlib.contextmanager
        def lock():
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

        return lock()

    def names(self):
        try:
            return sorted(e.name for e in os.scandir(self.ns_dir))
        except OSError:
            return []

    def read_meta(self, name):
        from .jsontext import loads

        try:
            # Non-blocking and regular files only: a FIFO planted here must not hang us.
            fd = os.open(self.meta_file(name), os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return {}
                data = loads(os.read(fd, 1 << 20))
            finally:
                os.close(fd)
        except (OSError, ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_meta(self, name, data):
        """Write NAME's metadata atomically, mode 0644."""
        from .files import write_atomically
        from .jsontext import dumps

        self.ensure("meta_dir")
        text = dumps(data, indent=2, sort_keys=True) + "\n"
        write_atomically(self.meta_file(name), text.encode(), mode=FILE_MODE)

    def remove_meta(self, name):
        try:
            os.unlink(self.meta_file(name))
        except (FileNotFoundError, IsADirectoryError):
            pass  # not ours: a directory someone made where metadata goes
