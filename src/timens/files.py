"""Writing files all or nothing: the one atomic-write helper.

Two kinds of file are written: timens's own (metadata in the run
directory), which get exactly the mode asked for whatever the umask; and
the user's (`save -o PATH`), which are written the way a shell redirection
would treat them, but atomically where that is possible.
"""
import os
import stat


def remove(path):
    """Unlink PATH if it is there (Path.unlink(missing_ok=True), without pathlib)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_atomically(path, data, *, mode=None):
    """Write bytes DATA to PATH so that a reader sees the old or the new content.

    With MODE (timens's own files): PATH is replaced by a new file of
    exactly that mode, owned by the caller; a symlink at PATH is replaced,
    not followed.

    Without MODE (the user's files): a symlink is followed and its target
    written; a path that is not a regular file (a device such as /dev/full,
    a FIFO) is written in place and stays what it is; an existing regular
    file is replaced by a temporary file renamed over it, keeping its owner
    and mode (if its owner cannot be kept, it is written in place); a new
    file gets the mode a shell would give it (0666 less the umask).
    """
    path = os.fspath(path)
    if mode is None:
        path = os.path.realpath(path)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            info = None
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, os.strerror(21), path)
        if info is not None and not stat.S_ISREG(info.st_mode):
            return _write_in_place(path, data)
    else:
        info = None
    tmp = _temporary(path, data)
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        elif info is not None:
            try:
                os.chown(tmp, info.st_uid, info.st_gid)
            except PermissionError:  # another's file we may write to: keep it theirs
                os.unlink(tmp)
                return _write_in_place(path, data)
            os.chmod(tmp, stat.S_IMODE(info.st_mode))
        else:
            umask = os.umask(0o022)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _temporary(path, data):
    """A private temporary file next to PATH holding DATA, synced to disk."""
    directory, base = os.path.split(path)
    for _ in range(100):
        # The pid in the name lets a sweep remove what a killed writer left.
        tmp = os.path.join(directory, f".{base}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(17, "no free temporary name", path)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    return tmp


def _write_in_place(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            os.ftruncate(fd, 0)
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass
