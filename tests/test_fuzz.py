"""Fuzzing, bounded in time (about 20 s): values, names and snapshots.

Whatever a user types or feeds in, timens answers with a result or its own
error: in the API a TimensError (never another exception), on the command
line one line and exit 125 (never a traceback), and nothing left behind.
"""
import json
import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import timens
from conftest import timens_argv
from timens import snapshot
from timens.namespace import resolve_offsets
from timens.rundir import RunDir, validate_name
from timens.values import CLOCKS, parse_clock_value

FAST = settings(max_examples=3000, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MEDIUM = settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text that looks like values often enough to get past the first checks.
pieces = st.sampled_from(["+", "-", "=", "@", ".", ":", "T", "Z", "z", " ", "e", "E", "_", "0", "1", "9", "99999",
                          "9" * 30, "s", "ms", "us", "ns", "m", "h", "d", "w", "y", "2038-01-19", "03:14:07",
                          "0001-01-01", "9999-12-31", "+23:59", "-24:00", ",5", "١", "\x00", "\n", "inf", "nan"])
values = st.one_of(st.text(max_size=40), st.lists(pieces, max_size=8).map("".join),
                   st.integers(min_value=-(10**30), max_value=10**30).map(lambda n: f"{n:+d}s"))
names = st.one_of(st.text(max_size=80), st.binary(max_size=70).map(lambda b: b.decode(errors="surrogateescape")))


@FAST
@given(value=values, clock=st.sampled_from(CLOCKS))
def test_values_parse_or_raise_bad_value(value, clock):
    try:
        parse_clock_value(value, clock)
    except timens.BadValue:
        pass


@MEDIUM
@given(mono=st.none() | values, boot=st.none() | values, real=st.none() | values | st.floats() | st.integers())
def test_offsets_resolve_or_raise_timens_errors(mono, boot, real):
    try:
        resolve_offsets(mono, boot, real)
    except timens.TimensError:
        pass


@FAST
@given(name=names)
def test_names_stay_inside_the_run_directory(rundir, name):
    try:
        validate_name(name)
    except timens.BadValue:
        return
    run = RunDir(rundir)
    assert os.path.dirname(run.ns_file(name)) == run.ns_dir
    assert os.path.dirname(run.meta_file(name)) == run.meta_dir


@pytest.fixture(scope="module")
def saved():
    """A real snapshot (of a namespace made for it)."""
    with timens.TimeNamespace.create(boottime="+1d", realtime="+2d") as ns:
        return snapshot.take(ns)


def mutations():
    leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                     st.floats(allow_nan=False), st.text(max_size=300))
    return st.recursive(leaf, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids,
                                                                                        max_size=3), max_leaves=5)


def mutate(data, path, value, fix_checksum):
    data = json.loads(json.dumps(data))
    where = data
    for key in path[:-1]:
        where = where.setdefault(key, {}) if isinstance(where, dict) else where
    if isinstance(where, dict):
        where[path[-1]] = value
    if fix_checksum:
        data[snapshot.CHECKSUM] = snapshot.checksum(data)
    return data


@MEDIUM
@given(section=st.sampled_from([*snapshot.FIELDS, "schema", "version", "sha256"]), field=st.text(max_size=15),
       value=mutations(), fix=st.booleans(), known=st.booleans(), elapsed=st.sampled_from(["frozen", "wall", "x"]))
def test_snapshots_load_and_restore_or_raise_timens_errors(saved, tmp_path, section, field, value, fix, known,
                                                           elapsed):
    if known and section in snapshot.FIELDS:
        field = sorted(snapshot.FIELDS[section])[len(field) % len(snapshot.FIELDS[section])]
    path = [section] if section not in snapshot.FIELDS else [section, field]
    data = mutate(saved, path, value, fix)
    file = tmp_path / "s.json"
    file.write_text(json.dumps(data))
    try:
        loaded = snapshot.load(file)
        snapshot.restore_oci(loaded, elapsed)
    except timens.TimensError:
        pass


def leftovers(rundir):
    return [p for d in ("ns", "pages", "meta") if (rundir / d).exists() for p in (rundir / d).iterdir()]


def check_cli(proc, rundir):
    assert proc.returncode in (0, 125), proc.stderr
    assert "Traceback" not in proc.stderr
    if proc.returncode:
        assert proc.stderr.startswith("timens: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert leftovers(rundir) == []


@SLOW
@given(clock=st.sampled_from(CLOCKS), value=values.filter(lambda v: "\x00" not in v))
def test_cli_values_one_line_or_run(rundir, clock, value):
    if value.startswith("-") and not value.startswith("--"):
        value_args = [f"--{clock}={value}"]
    else:
        value_args = [f"--{clock}", value]
    proc = subprocess.run(timens_argv("run", *value_args, "--", "true"), capture_output=True, text=True,
                          timeout=60, env={**os.environ, "TZ": "UTC"})
    check_cli(proc, rundir)


@SLOW
@given(name=names.filter(lambda n: "\x00" not in n))
def test_cli_names_one_line_or_made(rundir, name):
    proc = subprocess.run(timens_argv("create", "--", name), capture_output=True, text=True, timeout=60)
    if proc.returncode == 0:
        delete = subprocess.run(timens_argv("delete", "--", name), capture_output=True, text=True, timeout=60)
        assert delete.returncode == 0, delete.stderr
    check_cli(proc, rundir)
