"""What the user asks of the clocks, as offsets against the host's clocks.

Values are relative to the clocks the caller sees (so that timens behaves
the same nested inside a namespace as on the host), and are checked against
the ranges the kernel and the clock page can represent. `timens run` imports
this module, so it imports the clock page only when the caller runs with one.
"""
import os
import time

from . import errors, kernel
from .values import INSTANT, KERNEL_CLOCKS, NSEC_PER_SEC, OFFSET, TARGET, ClockValue, format_offset, parse_clock_value

# REALTIME inside must stay representable as signed 64-bit nanoseconds
# (1677-09-21 to 2262-04-11), as the kernel, Go and most runtimes assume.
REALTIME_LIMIT_NS = (2**63 - 1) // NSEC_PER_SEC * NSEC_PER_SEC


def as_value(value, clock):
    """What the API takes for a clock: a string as on the command line, a
    number of seconds (int or float, as time.sleep takes), a timedelta, or
    a ClockValue; for realtime also a datetime or date (an instant; naive
    means local time, as @DATE does)."""
    if value is None or isinstance(value, ClockValue):
        return value
    if isinstance(value, str):
        return parse_clock_value(value, clock)
    if isinstance(value, bool):
        raise errors.BadValue(f"{clock}: {value!r} is not a time")
    if isinstance(value, int):
        return ClockValue(OFFSET, value * NSEC_PER_SEC)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise errors.BadValue(f"{clock}: {value!r} is not a time")
        return parse_clock_value(f"{value:+.9f}", clock)
    from datetime import date, datetime, timedelta  # only these pay for this import

    if isinstance(value, timedelta):
        return ClockValue(OFFSET, (value.days * 86400 + value.seconds) * NSEC_PER_SEC + value.microseconds * 1000)
    if isinstance(value, date) and clock == "realtime":
        when = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
        return parse_clock_value("@" + when.isoformat(), clock)
    raise errors.BadValue(f"{clock}: expected a string, seconds or a timedelta, not {type(value).__name__}")


def caller_page_path():
    """The page libtimens.so in this process reads (if it is loaded)."""
    from .rundir import RunDir

    return os.environ.get("TIMENS_PAGE") or RunDir().page_file(kernel.ns_inode_of_link("self") or 0)


def caller_realtime_offset():
    """The REALTIME offset this process itself runs with (0 outside timens)."""
    try:
        with open(kernel.proc("self", "maps")) as f:
            if "libtimens.so" not in f.read():
                return 0
    except OSError:
        return 0
    from .page import ClockPage, PageError

    path = caller_page_path()
    try:
        with ClockPage.open(path, writable=False) as page:
            return page.read_realtime_offset()
    except (OSError, PageError):
        return 0


def kernel_offsets(monotonic=None, boottime=None):
    """What the user asked of MONOTONIC and BOOTTIME as host-relative offsets
    in ns, checked against the kernel's range: {clock: ns}."""
    own = kernel.own_clocks()
    kernel_offsets = {}
    for clock, value in zip(KERNEL_CLOCKS, (monotonic, boottime)):
        value = as_value(value, clock)
        reading, own_offset = own[clock]
        root_reading = reading - own_offset
        if value is None:
            offset = own_offset
        elif value.kind == TARGET:
            offset = value.ns - root_reading
        else:
            offset = own_offset + value.ns
        kernel.check_kernel_offset(clock, offset, str(value or format_offset(offset)), root_reading)
        kernel_offsets[clock] = offset
    return kernel_offsets


def realtime_offset(realtime=None):
    """What the user asked of REALTIME as a host-relative offset in ns,
    checked against its range; None: host REALTIME (no clock page)."""
    realtime = as_value(realtime, "realtime")
    own_rt = caller_realtime_offset()
    host_now = time.time_ns() - own_rt
    if realtime is None:
        rt_offset = own_rt or None
    elif realtime.kind == INSTANT:
        rt_offset = realtime.ns - host_now
    else:
        rt_offset = own_rt + realtime.ns
    if rt_offset is not None:
        check_realtime(rt_offset, str(realtime or format_offset(rt_offset)), host_now)
    return rt_offset


def check_realtime(offset, shown, host_now):
    inside = host_now + offset
    if not -REALTIME_LIMIT_NS <= inside <= REALTIME_LIMIT_NS:
        low, high = -REALTIME_LIMIT_NS - host_now, REALTIME_LIMIT_NS - host_now
        raise errors.OutOfRange(
            f"realtime {shown} is out of range: REALTIME must read between "
            f"1677-09-21 and 2262-04-11 (signed 64-bit nanoseconds), so the offset "
            f"must be between {format_offset(low, 3)} and {format_offset(high, 3)} now"
        )
