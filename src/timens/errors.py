"""The exceptions timens raises, and the one place OS errors become them.

Every error a user can cause is a `TimensError`; the CLI prints its message
on one line and exits 125. The API's public entry points are wrapped in
`boundary`, where an `OSError` (or a broken clock page) turns into the
matching `TimensError`, with `raise ... from err` so the cause stays
attached. The one exception is the command itself: when its exec fails,
the API raises what `subprocess` raises (a `CommandError`, which is an
`OSError`), and the CLI exits 126 or 127 as a shell does.
"""
import errno


class TimensError(Exception):
    """Base class: a failure of timens itself (exit status 125)."""


class BadValue(TimensError, ValueError):
    """A malformed offset, target or date."""


class OutOfRange(TimensError, ValueError):
    """A value the kernel (or the clock page) cannot represent."""


class NoSuchNamespace(TimensError, LookupError):
    """An unknown namespace name or process id."""


class NamespaceExists(TimensError):
    """A named namespace of that name exists already."""


class OffsetsFrozen(TimensError):
    """The kernel refuses to change offsets once a process has entered."""


class PermissionDenied(TimensError, PermissionError):
    """A missing capability or file permission; the message says what to do."""


class SnapshotError(TimensError):
    """A clock snapshot that cannot be used: malformed, edited or too new."""


class CommandError(OSError):
    """The command could not be run: its exec failed with this errno."""

    @property
    def exit_status(self):
        """What a shell exits with: 127 for a command not found, 126 otherwise."""
        return 127 if self.errno == errno.ENOENT else 126


class CommandNotFound(CommandError, FileNotFoundError):
    pass


class CommandNotRunnable(CommandError, PermissionError):
    pass


def command_error(err_no, program):
    """The exception subprocess would raise for an exec that failed with ERR_NO."""
    import os

    cls = {errno.ENOENT: CommandNotFound, errno.EACCES: CommandNotRunnable, errno.EPERM: CommandNotRunnable}
    return cls.get(err_no, CommandError)(err_no, os.strerror(err_no), os.fsdecode(program))


def from_os_error(err, doing=None):
    """The TimensError for OSError ERR met while DOING (words like "create the namespace")."""
    what = f'"{err.filename}"' if err.filename is not None else ""
    reason = err.strerror or str(err)
    text = f"cannot {doing}" + (f" ({what})" if what else "") if doing else what or "error"
    cls = PermissionDenied if isinstance(err, PermissionError) else TimensError
    return cls(f"{text}: {reason}")


def from_page_error(err):
    return TimensError(f"{err}; 'timens set ... --realtime V' writes a new one")


def boundary(doing):
    """Decorate a public entry point: OSErrors and page errors leave it as TimensErrors."""

    def wrap(func):
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except CommandError:
                raise
            except Exception as err:
                if _is_page_error(err):
                    raise from_page_error(err) from err
                if isinstance(err, OSError) and not isinstance(err, TimensError):
                    raise from_os_error(err, doing) from err
                raise

        # What functools.wraps does, without importing functools (and types):
        # a twentieth of a container's create or delete.
        for name in ("__module__", "__name__", "__qualname__", "__doc__", "__annotations__"):
            setattr(wrapper, name, getattr(func, name))
        wrapper.__dict__.update(func.__dict__)
        wrapper.__wrapped__ = func
        return wrapper

    return wrap


def _is_page_error(err):
    import sys

    page = sys.modules.get("timens.page")  # no page module loaded: no page error either
    return page is not None and isinstance(err, page.PageError)
