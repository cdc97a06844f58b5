"""Clock snapshots: `timens save` and `timens restore` (schema: docs/snapshot.md).

`save` writes what a namespace's clocks read at one instant, with the host's
REALTIME and the offsets, as versioned JSON with a checksum. `restore` makes
a namespace whose MONOTONIC and BOOTTIME go on from the saved readings
(offset = saved value - this host's value, CRIU's rule) and whose REALTIME
keeps its saved offset from the host's REALTIME.

A snapshot is read and checked completely before anything is created: a
file that is malformed, truncated, edited, too new or out of the kernel's
range is refused with one line, and leaves nothing behind.
"""
import hashlib
import json
import os
import socket
import sys
import time

from . import errors, kernel
from .errors import boundary
from .files import write_atomically
from .namespace import TimeNamespace, caller_realtime_offset, resolve_offsets
from .rundir import RunDir
from .values import CLOCKS, KERNEL_CLOCKS, NSEC_PER_SEC, OFFSET, TARGET, ClockValue, format_offset

SCHEMA = "timens.snapshot"
VERSION = 1
CHECKSUM = "sha256"
MAX_BYTES = 1 << 20  # a snapshot is about 1 KiB; refuse to parse anything huge

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Every field of version 1: section -> {field: kind}. Kinds are checked by
# `_check_field`; fields not listed here are ignored (see docs/snapshot.md).
FIELDS = {
    "tool": {"name": "str", "version": "str"},
    "taken": {"host_realtime_ns": "int64", "spread_ns": "int64>=0"},
    "clocks": {"monotonic_ns": "int64>=0", "boottime_ns": "int64>=0", "realtime_ns": "int64"},
    "offsets": {"monotonic_ns": "int64", "boottime_ns": "int64", "realtime_ns": "int64|null"},
    "host": {"boot_id": "str", "kernel_release": "str", "hostname": "str"},
    "namespace": {"name": "str|null", "inode": "int64>=0"},
}
MAX_STR = 256

ELAPSED = ("frozen", "wall")


# ---------------------------------------------------------------- save


def take(ns):
    """What NS's clocks read now, as a version-1 snapshot (a dict, checksum included)."""
    readings = ns.clocks()  # one process inside, all clocks within spread_ns
    kernel_offsets = readings["offsets"]
    data = {
        "schema": SCHEMA,
        "version": VERSION,
        "tool": {"name": "timens", "version": _tool_version()},
        "taken": {"host_realtime_ns": readings["host_realtime"], "spread_ns": readings["spread_ns"]},
        "clocks": {c + "_ns": readings[c] for c in CLOCKS},
        "offsets": {
            "monotonic_ns": kernel_offsets.get("monotonic", 0),
            "boottime_ns": kernel_offsets.get("boottime", 0),
            "realtime_ns": ns.realtime_offset(),
        },
        "host": {
            "boot_id": _read_boot_id(),
            "kernel_release": os.uname().release,
            "hostname": socket.gethostname(),
        },
        "namespace": {"name": ns.name, "inode": ns.inode},
    }
    data[CHECKSUM] = checksum(data)
    return data


@boundary("save the snapshot")
def save(ns, output=None):
    """Write a snapshot of NS to OUTPUT, or to stdout if None or '-'.

    OUTPUT is written as a shell redirection would (through a symlink, in
    place for a device or FIFO, keeping an existing file's owner and mode),
    but a regular file is replaced atomically: never half a snapshot.
    """
    text = dumps(take(ns))
    if output in (None, "-"):
        if sys.stdout is None:
            raise errors.SnapshotError("cannot write the snapshot: standard output is closed")
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        write_atomically(output, text.encode())
    except OSError as err:
        raise errors.SnapshotError(f'cannot write snapshot "{os.fsdecode(output)}": {err.strerror}') from err


def dumps(data):
    return json.dumps(data, indent=2) + "\n"


def checksum(data):
    """sha256 of the canonical JSON of everything but the checksum itself."""
    body = {k: v for k, v in data.items() if k != CHECKSUM}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _read_boot_id():
    try:
        with open(kernel.proc("sys", "kernel", "random", "boot_id")) as f:
            return f.read().strip()
    except OSError:
        return ""


def _tool_version():
    from . import version

    return version()


# ---------------------------------------------------------------- load


def load(path):
    """Read and check snapshot PATH ('-' for stdin); SnapshotError if it is unusable."""
    shown = "from standard input" if path == "-" else f'"{path}"'
    raw = _read_bytes(path, shown)
    if not raw.strip():
        raise errors.SnapshotError(f"snapshot {shown} is empty")
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        where = f" (line {err.lineno} column {err.colno}: {err.msg})" if isinstance(err, json.JSONDecodeError) else ""
        raise errors.SnapshotError(
            f"snapshot {shown} is not valid JSON{where}: truncated or not written by 'timens save'"
        ) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise errors.SnapshotError(f'{shown} is not a timens snapshot (no "schema": "{SCHEMA}")')
    version = data.get("version")
    if not _is_int(version) or version < 1:
        raise errors.SnapshotError(f"snapshot {shown} has an invalid version {version!r}")
    if version > VERSION:
        raise errors.SnapshotError(
            f"snapshot {shown} has version {version}; this timens reads version {VERSION}: upgrade timens"
        )
    if not isinstance(data.get(CHECKSUM), str):
        raise errors.SnapshotError(f'snapshot {shown} has no "{CHECKSUM}" checksum: not written by \'timens save\'')
    if data[CHECKSUM] != checksum(data):
        raise errors.SnapshotError(
            f"snapshot {shown} fails its {CHECKSUM} checksum: it was edited or damaged after 'timens save'"
        )
    for section, fields in FIELDS.items():
        values = data.get(section)
        if not isinstance(values, dict):
            raise errors.SnapshotError(f'snapshot {shown} has no "{section}" object')
        for field, kind in fields.items():
            _check_field(shown, f"{section}.{field}", values, field, kind)
    return data


def _read_bytes(path, shown):
    try:
        if path == "-":
            if sys.stdin is None:
                raise errors.SnapshotError("cannot read the snapshot from standard input: it is closed")
            return sys.stdin.buffer.read(MAX_BYTES + 1)
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise errors.SnapshotError(f"cannot read snapshot {shown}: {err.strerror}") from err
    if len(raw) > MAX_BYTES:
        raise errors.SnapshotError(f"snapshot {shown} is over {MAX_BYTES} bytes: not written by 'timens save'")
    return raw


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def _no_constant(name):
    raise ValueError(f"{name} is not a number")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_field(shown, where, values, field, kind):
    if field not in values:
        raise errors.SnapshotError(f"snapshot {shown} has no {where}")
    value = values[field]
    if value is None and kind.endswith("|null"):
        return
    if kind.startswith("str"):
        if not isinstance(value, str) or len(value) > MAX_STR:
            raise errors.SnapshotError(f"snapshot {shown}: {where} must be a string of at most {MAX_STR} characters")
        return
    if not _is_int(value):
        raise errors.SnapshotError(
            f"snapshot {shown}: {where} must be an integer, not {_describe(value)}"
        )
    low = 0 if kind == "int64>=0" else INT64_MIN
    if not low <= value <= INT64_MAX:
        raise errors.SnapshotError(
            f"snapshot {shown}: {where} = {value} is out of range ({low} to {INT64_MAX}, signed 64-bit)"
        )


def _describe(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return f"the fraction {value!r}"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {value[:30]!r}"
    return f"a {type(value).__name__}"


# ---------------------------------------------------------------- restore


def restore_values(data, elapsed="frozen", *, shown="snapshot"):
    """The ClockValues that make a namespace go on from snapshot DATA.

    MONOTONIC and BOOTTIME become targets: saved reading + elapsed, what the
    clocks read when the namespace is made, whatever clocks the caller has.
    REALTIME keeps its saved offset from the host's REALTIME (None: none).
    """
    if elapsed not in ELAPSED:
        raise errors.BadValue(f"--elapsed takes frozen or wall, not {elapsed!r}")
    own_rt = caller_realtime_offset()
    gap = 0
    if elapsed == "wall":
        host_now = time.time_ns() - own_rt
        gap = host_now - data["taken"]["host_realtime_ns"]
        if gap < 0:
            raise errors.SnapshotError(
                f"cannot restore {shown} with --elapsed wall: this host's REALTIME is "
                f"{format_offset(-gap).lstrip('+')} behind the time of the save, so no time "
                "would have passed; check the host clocks (NTP), or use --elapsed frozen"
            )
    values = {}
    for clock in KERNEL_CLOCKS:
        saved = data["clocks"][clock + "_ns"]
        target = saved + gap
        if target > kernel.CLOCK_VALUE_MAX_NS:
            limit = kernel.CLOCK_VALUE_MAX_NS
            how = f"saved {_duration(saved)}" + (f" + {_duration(gap)} elapsed" if gap else "")
            raise errors.OutOfRange(
                f"cannot restore {shown}: {clock.upper()} would go on from {_duration(target)} ({how}), "
                f"{_duration(target - limit)} beyond the kernel's limit of {limit // NSEC_PER_SEC} s "
                "(about 146 years)"
            )
        values[clock] = ClockValue(TARGET, target, f"={_duration(target)}")
    saved_rt = data["offsets"]["realtime_ns"]
    # Values are relative to the caller's clocks: take the caller's own
    # REALTIME offset back out, so REALTIME inside is host REALTIME + saved.
    if saved_rt is not None:
        values["realtime"] = ClockValue(OFFSET, saved_rt - own_rt, format_offset(saved_rt))
    elif own_rt:
        values["realtime"] = ClockValue(OFFSET, -own_rt, "0")
    else:
        values["realtime"] = None
    return values


def oci_time_offsets(values):
    """linux.timeOffsets of an OCI runtime config: host-relative kernel offsets."""
    offsets = resolve_offsets(values["monotonic"], values["boottime"], None)
    out = {}
    for clock in KERNEL_CLOCKS:
        secs, nanosecs = divmod(getattr(offsets, clock), NSEC_PER_SEC)
        out[clock] = {"secs": secs, "nanosecs": nanosecs}
    return out


@boundary("restore the snapshot")
def restore(snapshot, name=None, *, elapsed="frozen", rundir=None):
    """A new namespace whose clocks go on from SNAPSHOT: a path ('-' for
    stdin) or what `load` returned. With NAME it is a named namespace."""
    rundir = rundir if isinstance(rundir, RunDir) else RunDir(rundir)
    if name is not None and os.path.exists(rundir.ns_file(name)):
        raise errors.NamespaceExists(f'namespace "{name}" exists already')
    data, shown = _loaded(snapshot)
    values = restore_values(data, elapsed, shown=shown)
    try:
        return TimeNamespace.create(name, rundir=rundir, **values)
    except errors.OutOfRange as err:
        raise errors.OutOfRange(f"cannot restore {shown}: {err}") from err


@boundary("restore the snapshot")
def restore_oci(snapshot, elapsed="frozen"):
    """The linux.timeOffsets of an OCI runtime config that make a container's
    clocks go on from SNAPSHOT. They hold no REALTIME: `realtime_ns` of the
    snapshot's offsets says what is left out."""
    data, shown = _loaded(snapshot)
    values = restore_values(data, elapsed, shown=shown)
    try:
        return oci_time_offsets(values)
    except errors.OutOfRange as err:
        raise errors.OutOfRange(f"cannot restore {shown}: {err}") from err


def _loaded(snapshot):
    if isinstance(snapshot, dict):
        return snapshot, "snapshot"
    path = os.fsdecode(snapshot)
    return load(path), "from standard input" if path == "-" else f'"{path}"'


def _duration(ns):
    return format_offset(ns).lstrip("+")
