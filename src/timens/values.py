"""Parse and format the values users give for clocks.

Three shapes, all exact to the nanosecond (no floats on the way):

- an offset: ``+1d``, ``-3h``, ``+1.5s``, ``+2h30m``, ``+10y``, or a bare
  number of seconds (``86400``, as util-linux ``unshare`` takes);
- a target, ``=400d``: the value the clock reads when the namespace is made;
- an instant, ``@2038-01-19T03:14:07Z`` (ISO 8601) or ``@2147483647`` (epoch
  seconds): what REALTIME reads when the namespace is made. A date with a
  zone is taken as given; a date without one is local time, as `date` does.

Targets and instants become offsets once, at creation (see `namespace.py`).
Offsets and targets are read without `re` (a tenth of `timens run`'s
start-up); dates import it when they need it.
"""
import os

from .errors import BadValue

NSEC_PER_SEC = 1_000_000_000

# The clocks timens offsets: the two the kernel offsets per namespace, then
# REALTIME, which the clock page offsets. Every list of clocks derives from this.
KERNEL_CLOCKS = ("monotonic", "boottime")
CLOCKS = (*KERNEL_CLOCKS, "realtime")

UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": NSEC_PER_SEC,
    "m": 60 * NSEC_PER_SEC,
    "h": 3600 * NSEC_PER_SEC,
    "d": 86400 * NSEC_PER_SEC,
    "w": 7 * 86400 * NSEC_PER_SEC,
    "y": 36525 * 864 * NSEC_PER_SEC,  # 365.25 days
}

_DIGITS = "0123456789"  # ASCII digits only: str.isdigit takes any script's
_NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"  # what _number() reads, for dates

OFFSET, TARGET, INSTANT = "offset", "target", "instant"

VALUE_HELP = (
    "an offset (+1d, -3h, +1.5s, +2h30m; units ns us ms s m h d w y), "
    "or =VALUE for what the clock reads at creation (=400d)"
)
REALTIME_HELP = (
    "an offset (+10y, -400d) or @DATE for what REALTIME reads at creation "
    "(@2038-01-19T03:14:07Z; no zone means local time; @EPOCH_SECONDS)"
)


class ClockValue(tuple):
    """What the user asked for one clock: kind is offset, target or instant;
    ns its nanoseconds; text what the user wrote ("" if made in code).

    (The tuple a namedtuple would be, written out: `collections` is slow to
    import, and every `timens run` pays for its imports.)
    """

    __slots__ = ()

    def __new__(cls, kind, ns, text=""):
        return tuple.__new__(cls, (kind, ns, text))

    kind = property(lambda self: self[0])
    ns = property(lambda self: self[1])
    text = property(lambda self: self[2])

    def __getnewargs__(self):  # for pickle and copy
        return tuple(self)

    def __repr__(self):
        return f"ClockValue(kind={self.kind!r}, ns={self.ns!r}, text={self.text!r})"

    def __str__(self):
        return self.text or format_offset(self.ns)


def _number(text, pos):
    """The end of the number (12, 1.5, 1., .5) that starts at POS, or POS if none does."""
    end = pos
    while end < len(text) and text[end] in _DIGITS:
        end += 1
    if end < len(text) and text[end] == ".":
        frac = end + 1
        while frac < len(text) and text[frac] in _DIGITS:
            frac += 1
        if frac > end + 1 or end > pos:
            return frac
    return end


def _unit(text, pos):
    """The unit at POS (the two-letter ones first), or None."""
    for unit in (text[pos : pos + 2], text[pos : pos + 1]):
        if unit in UNITS_NS:
            return unit
    return None


def parse_duration(text, what="value", shown=None):
    """'2h30m' -> nanoseconds. No sign here; callers handle it."""
    shown = text if shown is None else shown
    if text and _number(text, 0) == len(text):
        return _scaled(text, NSEC_PER_SEC, shown, what)
    pos, total = 0, 0
    while pos < len(text):
        end = _number(text, pos)
        unit = _unit(text, end) if end > pos else None
        if unit is None:
            break
        total += _scaled(text[pos:end], UNITS_NS[unit], shown, what)
        pos = end + len(unit)
    if pos != len(text) or pos == 0:
        raise BadValue(
            f"malformed {what} {shown!r}: expected a number with units "
            "ns, us, ms, s, m, h, d, w or y, e.g. +1d, -3h, +2h30m, +1.5s"
        )
    return total


# More digits than any clock can use (2**63 ns is 19 digits); Python refuses
# to convert over 4,300 anyway.
MAX_DIGITS = 40


def _scaled(number, unit_ns, shown, what):
    """'1.5' * unit, exactly, in integer arithmetic."""
    if len(number) > MAX_DIGITS:
        raise BadValue(f"{what} {shown[:20]!r}... has over {MAX_DIGITS} digits: no clock goes that far")
    whole, _, frac = number.partition(".")
    scale = 10 ** len(frac)
    ns, rest = divmod((int(whole or 0) * scale + int(frac or 0)) * unit_ns, scale)
    if rest:
        raise BadValue(f"{what} {shown!r} is finer than a nanosecond")
    return ns


def parse_clock_value(text, clock):
    """Parse the value of --monotonic/--boottime/--realtime."""
    text = text.strip()
    if not text:
        raise BadValue(f"empty value for {clock}: {VALUE_HELP}")
    what = f"{clock} value"
    if text.startswith("="):
        if clock == "realtime":
            raise BadValue(f"{clock} takes @DATE, not {text!r}: {REALTIME_HELP}")
        return ClockValue(TARGET, parse_duration(text[1:], what, text), text)
    if text.startswith("@"):
        if clock != "realtime":
            raise BadValue(f"@DATE is for --realtime only; {clock} takes {VALUE_HELP}")
        return ClockValue(INSTANT, parse_instant(text[1:]), text)
    sign = -1 if text[0] == "-" else 1
    body = text[1:] if text[0] in "+-" else text
    return ClockValue(OFFSET, sign * parse_duration(body, what, text), text)


_DATE_TIME = (
    r"(?P<main>[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)"
    r"(?:[.,](?P<frac>[0-9]+))?"
    r"(?P<zone>Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


def parse_instant(text):
    """An ISO 8601 date or epoch seconds -> nanoseconds since the epoch."""
    import re  # only dates pay for these imports
    from datetime import datetime, timezone

    if re.fullmatch(r"-?(?:" + _NUMBER + ")", text):
        sign = -1 if text.startswith("-") else 1
        return sign * parse_duration(text.lstrip("-"), "epoch seconds")
    frac = "0"
    match = re.fullmatch(_DATE_TIME, text)
    if match:
        zone = match.group("zone") or ""
        if zone[1:3].isdigit() and int(zone[1:3]) > 23:
            raise BadValue(f"bad zone in date {text!r}: offsets run from -23:59 to +23:59")
        zone = "+00:00" if zone in ("Z", "z") else zone
        iso, frac = match.group("main") + zone, match.group("frac") or "0"
        if len(frac) > 9 and frac[9:].strip("0"):
            raise BadValue(f"date {text!r} is finer than a nanosecond")
        frac = frac[:9]
    elif re.fullmatch(_DATE, text):
        iso = text
    else:
        iso = None
    try:
        when = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        raise BadValue(
            f"malformed date {text!r}: expected ISO 8601 such as "
            "2038-01-19T03:14:07Z, 2030-01-01 12:00 or 2030-01-01"
        ) from None
    if when.tzinfo is None:
        naive = when
        try:
            when = when.astimezone()  # local time, as mktime() and date read it
        except (OverflowError, ValueError, OSError):
            # Out of the C library's range, or a zone Python cannot take (TZ=UTC-25).
            raise BadValue(
                f"date {text!r} cannot be read in the local time zone (TZ={os.environ.get('TZ', 'unset')}): "
                "give it with a zone, such as Z or +02:00"
            ) from None
        if when.replace(tzinfo=None) != naive:  # mktime() moved it: the time is in a gap
            raise BadValue(f"date {text!r} does not exist in local time (a daylight saving change skips it)")
    delta = when - datetime(1970, 1, 1, tzinfo=timezone.utc)
    seconds = delta.days * 86400 + delta.seconds
    return seconds * NSEC_PER_SEC + delta.microseconds * 1000 + int(frac.ljust(9, "0"))


def split_ns(ns):
    """Nanoseconds -> (seconds, nanoseconds in [0, 1e9)), as the kernel wants."""
    return divmod(int(ns), NSEC_PER_SEC)


def join_ns(sec, nsec):
    """(seconds, nanoseconds) -> nanoseconds; nsec may be out of range."""
    return int(sec) * NSEC_PER_SEC + int(nsec)


def format_offset(ns, digits=9):
    """+400d, -3h, +1d2h30m, +1.5s, 0: the shortest form, exact by default.

    With fewer DIGITS after the decimal point (for people, in tables and
    messages), the fraction is cut towards zero.
    """
    if digits < 9:
        unit = 10 ** (9 - digits)
        ns = ns // unit * unit if ns >= 0 else -(-ns // unit * unit)
    if ns == 0:
        return "0"
    sign, ns = ("-" if ns < 0 else "+"), abs(ns)
    parts = []
    for unit in ("d", "h", "m"):
        count, ns = divmod(ns, UNITS_NS[unit])
        if count:
            parts.append(f"{count}{unit}")
    if ns:
        sec, frac = divmod(ns, NSEC_PER_SEC)
        parts.append(f"{sec}.{frac:09d}".rstrip("0") + "s" if frac else f"{sec}s")
    return sign + "".join(parts)


def format_seconds(ns):
    """Nanoseconds as 'S.NNNNNNNNN' with the sign kept exact."""
    sign = "-" if ns < 0 else ""
    sec, frac = divmod(abs(ns), NSEC_PER_SEC)
    return f"{sign}{sec}.{frac:09d}"


def format_instant(ns):
    """Epoch nanoseconds as an ISO 8601 UTC date (or seconds if out of range)."""
    from datetime import datetime, timedelta, timezone

    sec, frac = split_ns(ns)
    try:
        when = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=sec)
    except OverflowError:
        return f"@{format_seconds(ns)}"
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"
