"""Parsing of offsets, targets and dates: exact to the nanosecond."""
import os
import subprocess
import sys

import pytest

from timens.errors import BadValue
from timens.values import INSTANT, OFFSET, TARGET, format_offset, parse_clock_value

S = 10**9


@pytest.mark.parametrize(
    "text,kind,ns",
    [
        ("+1d", OFFSET, 86400 * S),
        ("-3h", OFFSET, -3 * 3600 * S),
        ("+1.5s", OFFSET, 1_500_000_000),
        ("+2h30m", OFFSET, 9000 * S),
        ("86400", OFFSET, 86400 * S),
        ("-90", OFFSET, -90 * S),
        ("+1w2d", OFFSET, 9 * 86400 * S),
        ("+10y", OFFSET, 3652 * 86400 * S + 12 * 3600 * S),
        ("+1ns", OFFSET, 1),
        ("+1.25us", OFFSET, 1250),
        ("+0.000000001s", OFFSET, 1),
        ("=400d", TARGET, 400 * 86400 * S),
        ("=0", TARGET, 0),
    ],
)
def test_offsets_and_targets(text, kind, ns):
    value = parse_clock_value(text, "boottime")
    assert (value.kind, value.ns) == (kind, ns)


@pytest.mark.parametrize(
    "text,epoch_ns",
    [
        ("@2038-01-19T03:14:07Z", 2147483647 * S),
        ("@2038-01-19T03:14:07.5Z", 2147483647 * S + S // 2),
        ("@2038-01-19T04:14:07.123456789+01:00", 2147483647 * S + 123456789),
        ("@1970-01-01T00:00:00Z", 0),
        ("@1926-01-01T00:00:00Z", -1388534400 * S),
        ("@2147483647", 2147483647 * S),
        ("@-1.5", -1_500_000_000),
    ],
)
def test_instants(text, epoch_ns):
    value = parse_clock_value(text, "realtime")
    assert (value.kind, value.ns) == (INSTANT, epoch_ns)


def test_date_without_zone_is_local_time_as_date_reads_it():
    env = {**os.environ, "TZ": "America/New_York"}
    expected = int(subprocess.run(["date", "-d", "2030-06-01 12:00", "+%s"], env=env, capture_output=True,
                                  text=True, check=True).stdout)
    code = "from timens.values import parse_clock_value as p; print(p('@2030-06-01 12:00', 'realtime').ns)"
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert int(got) == expected * S


@pytest.mark.parametrize(
    "text,clock,message",
    [
        ("abc", "monotonic", "malformed monotonic value 'abc'"),
        ("+1d3", "boottime", "malformed"),
        ("+1.5ns", "boottime", "finer than a nanosecond"),
        ("++1d", "boottime", "malformed"),
        ("1 d", "boottime", "malformed"),
        ("", "boottime", "empty value"),
        ("=-1d", "boottime", "malformed"),
        ("@2030-01-01", "monotonic", "@DATE is for --realtime only"),
        ("=1d", "realtime", "realtime takes @DATE"),
        ("@2030-02-30", "realtime", "malformed date"),
        ("@yesterday", "realtime", "malformed date"),
        ("+\u0663d", "boottime", "malformed"),  # Arabic-Indic three: digits are ASCII
        ("+\uff11d", "boottime", "malformed"),  # fullwidth one
        ("@2038-01-19T03:14:07.1234567891Z", "realtime", "finer than a nanosecond"),
        ("@2038-01-19T03:14:07+25:00", "realtime", "bad zone"),
    ],
)
def test_malformed(text, clock, message):
    with pytest.raises(BadValue, match=message):
        parse_clock_value(text, clock)


def test_format_offset_round_trips():
    for ns in (0, 1, -1, 86400 * S, -3 * 3600 * S, 9000 * S + 5, 400 * 86400 * S + 1_500_000_000):
        text = format_offset(ns)
        assert parse_clock_value(text, "boottime").ns == ns, text


def test_format_offset_for_people_cuts_towards_zero():
    assert format_offset(1_500_000_123, 3) == "+1.5s"
    assert format_offset(-1_999_999_999, 3) == "-1.999s"
    assert format_offset(999_999, 3) == "0"
    assert format_offset(86400 * S + 5, 3) == "+1d"


def test_a_local_time_skipped_by_daylight_saving_is_refused():
    env = {**os.environ, "TZ": "America/New_York"}
    code = "from timens.values import parse_clock_value as p; p('@2030-03-10 02:30', 'realtime')"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "does not exist in local time" in proc.stderr
    gap = subprocess.run(["date", "-d", "2030-03-10 02:30"], env=env, capture_output=True, text=True)
    assert gap.returncode != 0, "date refuses it too"
