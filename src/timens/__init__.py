"""timens: time namespaces for Linux process trees.

    import timens
    timens.run(["uptime", "-p"], boottime="=400d")            # a new namespace
    with timens.TimeNamespace.create(realtime="@2038-01-19T03:14:07Z") as ns:
        ns.run(["date"], capture_output=True, text=True)
    lab = timens.TimeNamespace.create("lab", boottime="+365d")  # named, persists
    timens.TimeNamespace.open("lab").run(["cat", "/proc/uptime"])
    timens.list_namespaces()
    ns = timens.restore("snapshot.json")                       # clocks go on from a save

Values are offsets ("+1d", or int nanoseconds), targets ("=400d") or, for
REALTIME, instants ("@2038-01-19T03:14:07Z"). Errors are `TimensError`s,
except a command that cannot be run, which raises what `subprocess` raises.
Submodules load on first use, to keep `timens run` quick to start.
"""

__all__ = [
    "TimeNamespace",
    "Offsets",
    "Popen",
    "run",
    "list_namespaces",
    "NamespaceInfo",
    "TimensError",
    "BadValue",
    "OutOfRange",
    "NoSuchNamespace",
    "NamespaceExists",
    "OffsetsFrozen",
    "PermissionDenied",
    "SnapshotError",
    "CommandError",
    "save",
    "load",
    "restore",
    "version",
]

from .errors import (  # noqa: E402  (cheap: no imports of its own)
    BadValue,
    NamespaceExists,
    NoSuchNamespace,
    OffsetsFrozen,
    OutOfRange,
    PermissionDenied,
    CommandError,
    SnapshotError,
    TimensError,
)

_LAZY = {
    "TimeNamespace": "namespace",
    "Offsets": "namespace",
    "Popen": "namespace",
    "run": "namespace",
    "list_namespaces": "discover",
    "NamespaceInfo": "discover",
    "save": "snapshot",
    "load": "snapshot",
    "restore": "snapshot",
}


def version():
    """The installed timens's version ("unknown" when not installed)."""
    try:
        from importlib.metadata import version as dist_version  # slow to import: only when asked

        return dist_version("timens")
    except Exception:
        return "unknown"


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'timens' has no attribute {name!r}")
