"""The exceptions timens raises: one small tree, each naming what failed.

Every error a user can cause is a `TimensError`; the CLI prints its message
on one line and exits 125. OS errors are translated where they happen, with
`raise ... from err`, so the cause stays attached for debugging.
"""


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
