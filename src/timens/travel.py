"""Freeze, advance and move REALTIME on a clock page, from what the user gives.

The rules shared by `TimeNamespace` (`timens set`) and `OwnClock` (this
process's own page, used by the pytest plugin), so that both read values the
same way and refuse the same things.
"""
import time

from . import errors
from .values import INSTANT, NSEC_PER_SEC, OFFSET, TARGET

MONOTONIC_BACK = "MONOTONIC must never go back"


def realtime_offset(value, base_offset, host_now):
    """The REALTIME offset VALUE (a ClockValue) asks for.

    @DATE is an instant; an offset counts from BASE_OFFSET, the offset of
    the REALTIME the caller calls "now" (its own, or the real time of a test).
    """
    from .namespace import check_realtime

    if value.kind == TARGET:
        raise errors.BadValue("realtime takes an offset or @DATE, not =VALUE")
    offset = value.ns - host_now if value.kind == INSTANT else base_offset + value.ns
    check_realtime(offset, str(value), host_now)
    return offset


def freeze_instant(value, base_offset, host_now):
    """The instant (ns since the epoch) a freeze at VALUE stops REALTIME at."""
    return host_now + realtime_offset(value, base_offset, host_now)


def advance_ns(value):
    """Nanoseconds to advance by: an offset >= 0 (a ClockValue)."""
    if value is None or value.kind != OFFSET:
        raise errors.BadValue(f"advance takes a duration such as +1h or 30m, not {str(value)!r}")
    if value.ns < 0:
        raise errors.OutOfRange(
            f"cannot advance by {value}: {MONOTONIC_BACK}; "
            "only REALTIME may move back (timens set --realtime, or timens_clock.shift in tests)"
        )
    return value.ns


def host_realtime_ns():
    """The host's REALTIME, also in a process whose own REALTIME libtimens.so
    moves or freezes: libc's own clock_gettime, looked up in libc itself
    rather than in the global scope where libtimens.so comes first."""
    import ctypes

    class Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    ts = Timespec()
    if ctypes.CDLL("libc.so.6").clock_gettime(time.CLOCK_REALTIME, ctypes.byref(ts)) != 0:
        return time.time_ns()
    return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec
