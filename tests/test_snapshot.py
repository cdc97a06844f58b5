"""timens save / restore: the snapshot file, continuity, migration, OCI output.

Clocks are checked against host readings taken around each step, so the
bounds are exact windows rather than guesses: a restored clock must read
saved value (+ elapsed wall time for --elapsed wall) + the time between the
restore and the read, and the test knows that time to within the windows it
measured. SLACK covers only REALTIME and MONOTONIC running at slightly
different rates (NTP) and the helper's read spread.

"Another host" is played by running `timens restore` from inside a time
namespace whose MONOTONIC and BOOTTIME are days or years away from the
host's: what restore makes must not depend on where it runs.

Linux only, needs root and CLONE_NEWTIME.
"""
import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROBES, timens_argv
from timens.snapshot import checksum

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/ns/time") or os.geteuid() != 0,
    reason="needs root and a kernel with time namespaces",
)

NS = 1_000_000_000
MS = 1_000_000
DAY = 86400 * NS
YEAR = 365 * DAY + DAY // 4  # timens's y
SLACK = 5 * MS
PAUSE = 1.0  # seconds between save and restore
HELPER = Path(__file__).parent.parent / "src" / "timens" / "native" / "timens-helper"
LEASE = PROBES / "lease.py"
# The "second host": a caller whose kernel clocks are far from the host's.
NESTED = ["unshare", "--time", "--fork", "--boottime", "5000000", "--monotonic", "3000000", "--"]


def root_clocks():
    """Host clocks as the initial namespace reads them, and REALTIME."""
    with open("/proc/self/timens_offsets") as f:
        own = {name: int(s) * NS + int(n) for name, s, n in (line.split() for line in f)}
    return {
        "monotonic": time.clock_gettime_ns(time.CLOCK_MONOTONIC) - own.get("monotonic", 0),
        "boottime": time.clock_gettime_ns(time.CLOCK_BOOTTIME) - own.get("boottime", 0),
        "realtime": time.time_ns(),
    }


def parse_helper_clocks(text):
    out = {}
    for line in text.splitlines():
        key, *vals = line.split()
        if key in ("monotonic", "boottime", "realtime", "host_realtime"):
            out[key] = int(vals[0]) * NS + int(vals[1])
    return out


def state_of(rundir):
    """Everything restore could leave behind: files under the run dir and its mounts."""
    files = sorted(str(p.relative_to(rundir)) for p in rundir.rglob("*")) if rundir.exists() else None
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(line.split()[4] for line in f if str(rundir) in line)
    return files, mounts


@pytest.fixture(autouse=True)
def delete_named(rundir, timens):
    yield
    names = sorted(p.name for p in (rundir / "ns").iterdir()) if (rundir / "ns").exists() else []
    if names:
        timens("delete", *names)


@pytest.fixture
def lab(timens, tmp_path):
    """A named namespace a year and ten days ahead, saved: (name, snapshot path, snapshot)."""
    assert timens("create", "lab", "--boottime", "+365d", "--monotonic", "+10d").returncode == 0
    path = tmp_path / "lab.json"
    r = timens("save", "lab", "-o", path)
    assert r.returncode == 0, r.stderr
    return "lab", path, json.loads(path.read_text())


def show(timens, name):
    r = timens("show", name, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# ---------------------------------------------------------------- save


def test_save_records_one_instant(timens, tmp_path, rundir):
    assert timens("create", "lab", "--boottime", "+365d", "--monotonic", "+10d", "--realtime", "+10y").returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    before = root_clocks()
    r = timens("save", "lab", "-o", out / "lab.json")
    after = root_clocks()
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["lab.json"]  # no temporary file left
    data = json.loads((out / "lab.json").read_text())

    assert list(data) == ["schema", "version", "tool", "taken", "clocks", "offsets", "host", "namespace", "sha256"]
    assert (data["schema"], data["version"], data["tool"]["name"]) == ("timens.snapshot", 1, "timens")
    assert data["sha256"] == checksum(data)
    assert data["offsets"] == {"monotonic_ns": 10 * DAY, "boottime_ns": 365 * DAY, "realtime_ns": 10 * YEAR}
    for clock in ("monotonic", "boottime"):
        host_then = data["clocks"][clock + "_ns"] - data["offsets"][clock + "_ns"]
        assert before[clock] <= host_then <= after[clock]
    taken = data["taken"]
    assert before["realtime"] <= taken["host_realtime_ns"] <= after["realtime"]
    inside_rt = data["clocks"]["realtime_ns"] - data["offsets"]["realtime_ns"]
    assert abs(inside_rt - taken["host_realtime_ns"]) <= taken["spread_ns"] + SLACK
    print(f"save: readings within {taken['spread_ns']} ns of each other")
    assert 0 <= taken["spread_ns"] < 50 * MS
    assert data["host"] == {
        "boot_id": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
        "kernel_release": os.uname().release,
        "hostname": os.uname().nodename,
    }
    assert data["namespace"] == {"name": "lab", "inode": os.stat(rundir / "ns" / "lab").st_ino}

    r = timens("save", "lab")  # no -o: standard output
    assert r.returncode == 0 and json.loads(r.stdout)["namespace"]["name"] == "lab"


def test_save_failure_leaves_nothing(timens, tmp_path):
    assert timens("create", "lab").returncode == 0
    old = tmp_path / "old.json"
    old.write_text("old\n")
    for args in (["nosuch", "-o", old], ["lab", "-o", tmp_path / "missing" / "x.json"], ["lab", "-o", tmp_path]):
        r = timens("save", *args)
        assert r.returncode == 125 and r.stderr.count("\n") == 1, r.stderr
    assert old.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == sorted(["old.json", "run"])


# ---------------------------------------------------------------- continuity


@pytest.mark.parametrize("where", ["host", "nested"])
@pytest.mark.parametrize("elapsed", ["frozen", "wall"])
def test_restore_continues(timens, lab, elapsed, where):
    _, path, saved = lab
    time.sleep(PAUSE)
    prefix = NESTED if where == "nested" else []
    t0 = root_clocks()
    r = subprocess.run(
        prefix + ["sh", "-c", 'cat /proc/uptime && exec "$@"', "-", *timens_argv("restore", path, "--name", "back", "--elapsed", elapsed)],
        capture_output=True, text=True, timeout=60,
    )
    t1 = root_clocks()
    assert r.returncode == 0, r.stderr
    caller_uptime = float(r.stdout.split()[0])
    assert (caller_uptime > 5_000_000) == (where == "nested")
    t2 = root_clocks()
    report = show(timens, "back")
    t3 = root_clocks()
    gap_low = gap_high = 0
    if elapsed == "wall":
        gap_low = t0["realtime"] - saved["taken"]["host_realtime_ns"]
        gap_high = t1["realtime"] - saved["taken"]["host_realtime_ns"]
    for clock in ("monotonic", "boottime"):
        advance = report["clocks"][clock]["inside_ns"] - saved["clocks"][clock + "_ns"]
        # inside = saved + gap + (read - restore); read in [t2, t3], restore in [t0, t1]
        low = gap_low + t2[clock] - t1[clock]
        high = gap_high + t3[clock] - t0[clock]
        print(f"{elapsed}/{where} {clock}: advance {advance / MS:.3f} ms, window [{low / MS:.3f}, {high / MS:.3f}] ms")
        assert low - SLACK <= advance <= high + SLACK
        if elapsed == "frozen":
            assert advance < PAUSE * NS / 2  # the pause between save and restore did not count
        else:
            assert advance >= PAUSE * NS


def test_restore_keeps_realtime_offset_relative_to_host(timens, tmp_path):
    """REALTIME inside = host REALTIME + saved offset, whatever the restoring process reads."""
    assert timens("create", "ahead", "--realtime", "+10y").returncode == 0
    assert timens("create", "plain", "--boottime", "+1d").returncode == 0
    for name in ("ahead", "plain"):
        assert timens("save", name, "-o", tmp_path / f"{name}.json").returncode == 0
    script = (
        'date -u +%Y && "$0" -m timens restore "$1" --name ahead2 && "$0" -m timens restore "$2" --name plain2'
    )
    r = timens("run", "--realtime", "+1000d", "--", "sh", "-c", script, sys.executable,
               tmp_path / "ahead.json", tmp_path / "plain.json")
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split()[0]) >= time.gmtime().tm_year + 2  # the restorer ran 1000 days ahead
    ahead = show(timens, "ahead2")
    saved = json.loads((tmp_path / "ahead.json").read_text())["offsets"]["realtime_ns"]
    assert ahead["offsets"]["realtime_ns"] == saved
    rt = ahead["clocks"]["realtime"]
    assert abs(rt["inside_ns"] - rt["host_ns"] - saved) < 100 * MS
    plain = show(timens, "plain2")
    assert plain["offsets"]["realtime_ns"] in (None, 0)
    rt = plain["clocks"]["realtime"]
    assert abs(rt["inside_ns"] - rt["host_ns"]) < 100 * MS


def test_restore_runs_a_command(timens, lab):
    _, path, saved = lab
    t0 = root_clocks()
    r = timens("restore", path, "--", HELPER, "clocks")
    t1 = root_clocks()
    assert r.returncode == 0, r.stderr
    inside = parse_helper_clocks(r.stdout)
    for clock in ("monotonic", "boottime"):
        assert 0 <= inside[clock] - saved["clocks"][clock + "_ns"] <= t1[clock] - t0[clock] + SLACK
    assert timens("restore", path, "--", "sh", "-c", "exit 7").returncode == 7
    assert timens("restore", path, "--", "sh", "-c", "kill -TERM $$").returncode == -signal.SIGTERM


@pytest.mark.parametrize("args", [[], ["--oci", "--name", "x"], ["--name", "x", "--", "true"]])
def test_restore_needs_one_mode(timens, lab, rundir, args):
    _, path, _ = lab
    before = state_of(rundir)
    r = timens("restore", path, *args)
    assert r.returncode == 125
    assert r.stderr.count("\n") == 1 and "--name NAME" in r.stderr and "--oci" in r.stderr and "COMMAND" in r.stderr
    assert state_of(rundir) == before


# ---------------------------------------------------------------- end to end


def test_lease_survives_checkpoint_and_restore(timens, lab, tmp_path):
    """A MONOTONIC lease neither expires early nor lives forever across a restore."""
    state = str(tmp_path / "lease.json")
    holder = subprocess.Popen(
        timens_argv("exec", "lab", "--", sys.executable, LEASE, "hold", state, "10"),
        stdout=subprocess.PIPE, text=True,
    )
    word, pid, _, expires = holder.stdout.readline().split()
    assert word == "taken"
    time.sleep(0.5)
    # checkpoint: freeze the process, save the clocks, kill it
    os.kill(int(pid), signal.SIGSTOP)
    snap = tmp_path / "lease-ns.json"
    assert timens("save", "lab", "-o", snap).returncode == 0
    os.kill(int(pid), signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    saved = json.loads(snap.read_text())
    left_at_save = int(expires) - saved["clocks"]["monotonic_ns"]
    assert 8 * NS < left_at_save < 10 * NS

    time.sleep(2)  # the process is down: migration, or a restart later
    t0 = root_clocks()["monotonic"]
    assert timens("restore", snap, "--name", "back").returncode == 0
    t1 = root_clocks()["monotonic"]

    # Without timens the restored lease would read as days away: it would live forever.
    host_view = subprocess.run([sys.executable, LEASE, "remaining", state], capture_output=True, text=True)
    assert int(host_view.stdout) > 9 * DAY

    t2 = root_clocks()["monotonic"]
    r = timens("exec", "back", "--", sys.executable, LEASE, "remaining", state)
    t3 = root_clocks()["monotonic"]
    left = int(r.stdout)
    print(f"lease: {left_at_save / NS:.3f} s left at save, {left / NS:.3f} s left after restore")
    assert left_at_save - (t3 - t0) - SLACK <= left <= left_at_save - (t2 - t1) + SLACK

    # Start it again in the restored namespace: it expires when the saved deadline comes.
    r = timens("exec", "back", "--", sys.executable, LEASE, "hold", state, "10")
    t_end = root_clocks()["monotonic"]
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0].startswith("resumed ") and lines[1].startswith("expired ")
    late = int(lines[1].split()[1])
    assert 0 <= late < 100 * MS
    # it expires at restore + left_at_save, never before, and not much after
    print(f"lease: expired {late / MS:.3f} ms after its deadline; host saw it at "
          f"{(t_end - t0 - left_at_save) / MS:.1f} ms after restore + time left")
    assert t_end >= t0 + left_at_save
    assert t_end <= t1 + left_at_save + 500 * MS


# ---------------------------------------------------------------- OCI

# What a runtime does with linux.timeOffsets, by hand: unshare a time
# namespace, write its offsets, then start the first process inside.
OCI_RUNTIME = """
import ctypes, subprocess, sys
if ctypes.CDLL(None, use_errno=True).unshare(0x80) != 0:  # CLONE_NEWTIME
    sys.exit("unshare: errno %d" % ctypes.get_errno())
with open("/proc/self/timens_offsets", "w") as f:
    f.write(sys.argv[1])
sys.exit(subprocess.run([sys.argv[2], "clocks"]).returncode)
"""


def test_oci_time_offsets(timens, lab, rundir):
    _, path, saved = lab
    before = state_of(rundir)
    t0 = root_clocks()
    r = timens("restore", path, "--oci")
    t1 = root_clocks()
    assert r.returncode == 0, r.stderr
    assert state_of(rundir) == before  # --oci creates nothing
    offsets = json.loads(r.stdout)
    # runtime-spec config-linux.md, linux.timeOffsets: clock name -> {secs: int64, nanosecs: uint32}
    assert set(offsets) == {"monotonic", "boottime"}
    for clock, value in offsets.items():
        assert set(value) == {"secs", "nanosecs"}
        assert all(type(v) is int for v in value.values())
        assert -(2**63) <= value["secs"] < 2**63 and 0 <= value["nanosecs"] < NS
        offset = value["secs"] * NS + value["nanosecs"]
        # offset = saved - host now, host now taken within [t0, t1]
        assert saved["clocks"][clock + "_ns"] - t1[clock] <= offset <= saved["clocks"][clock + "_ns"] - t0[clock]

    # Apply them as an OCI runtime does: unshare, write timens_offsets, start the first process.
    lines = "".join(f"{clock} {v['secs']} {v['nanosecs']}\n" for clock, v in offsets.items())
    t2 = root_clocks()
    r = subprocess.run([sys.executable, "-c", OCI_RUNTIME, lines, HELPER], capture_output=True, text=True, timeout=30)
    t3 = root_clocks()
    assert r.returncode == 0, r.stderr
    inside = parse_helper_clocks(r.stdout)
    for clock in ("monotonic", "boottime"):
        advance = inside[clock] - saved["clocks"][clock + "_ns"]
        assert t2[clock] - t1[clock] <= advance <= t3[clock] - t0[clock]


# ---------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def valid():
    """A valid snapshot (dict) of an anonymous namespace, made through the Python API."""
    from timens.namespace import TimeNamespace
    from timens.snapshot import take

    with TimeNamespace.create(boottime="+365d", monotonic="+10d") as ns:
        return take(ns)


def text(data, sign=True):
    data = copy.deepcopy(data)
    if sign:
        data["sha256"] = checksum(data)
    return json.dumps(data, indent=2)


def edit(where, value, sign=True):
    def make(data):
        data = copy.deepcopy(data)
        *path, last = where.split(".")
        node = data
        for key in path:
            node = node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value(node[last]) if callable(value) else value
        return text(data, sign=sign)

    return make


def raw(content):
    return lambda data: content


def wall_beyond_range(data):
    data = copy.deepcopy(data)
    data["clocks"]["monotonic_ns"] = 146 * YEAR - DAY
    data["taken"]["host_realtime_ns"] -= 2 * YEAR
    return text(data)


REFUSED = {
    "not-json": (raw("this is not a snapshot\n"), "not valid JSON"),
    "empty": (raw(""), "is empty"),
    "truncated": (lambda d: text(d)[: len(text(d)) // 2], "not valid JSON"),
    "binary": (raw("\udcff"), "not valid JSON"),
    "array": (raw("[1, 2]"), "not a timens snapshot"),
    "wrong-schema": (edit("schema", "timens.show/1"), "not a timens snapshot"),
    "no-schema": (edit("schema", KeyError), "not a timens snapshot"),
    "future-version": (edit("version", 2), "has version 2; this timens reads version 1: upgrade timens"),
    "version-string": (edit("version", "1"), "invalid version"),
    "version-zero": (edit("version", 0), "invalid version"),
    "edited-value": (edit("clocks.boottime_ns", lambda v: v + NS, sign=False), "fails its sha256 checksum"),
    "no-checksum": (edit("sha256", KeyError, sign=False), 'no "sha256"'),
    "no-section": (edit("clocks", KeyError), 'no "clocks" object'),
    "section-not-object": (edit("offsets", [1]), 'no "offsets" object'),
    "no-field": (edit("clocks.boottime_ns", KeyError), "no clocks.boottime_ns"),
    "string-ns": (edit("clocks.monotonic_ns", lambda v: str(v)), "must be an integer"),
    "float-ns": (edit("clocks.monotonic_ns", lambda v: v / 3), "must be an integer"),
    "exponent-ns": (edit("clocks.monotonic_ns", 1e15), "must be an integer"),
    "bool-ns": (edit("clocks.boottime_ns", True), "must be an integer"),
    "null-ns": (edit("clocks.boottime_ns", None), "must be an integer"),
    "beyond-int64": (edit("clocks.boottime_ns", 2**64), "out of range"),
    "beyond-int64-negative": (edit("offsets.realtime_ns", -(2**63) - 1), "out of range"),
    "thousands-of-digits": (raw('{"schema": "timens.snapshot", "version": 1' + "0" * 5000 + "}"), "not valid JSON"),
    "negative-boottime": (edit("clocks.boottime_ns", -1), "out of range"),
    "negative-spread": (edit("taken.spread_ns", -5), "out of range"),
    "hostname-number": (edit("host.hostname", 5), "must be a string"),
    "nan": (lambda d: text(d).replace('"spread_ns": ', '"spread_ns": NaN, "x": ', 1), "not valid JSON"),
    "duplicate-key": (lambda d: text(d).replace('"version": 1', '"version": 1, "version": 1', 1), "not valid JSON"),
    "oversized": (lambda d: text(d) + " " * (2 << 20), "over 1048576 bytes"),
    "erange-200-years": (edit("clocks.boottime_ns", 200 * YEAR), "BOOTTIME would go on from"),
    # valid as saved, out of range once two years of wall time are added (--elapsed wall)
    "erange-after-wall": (wall_beyond_range, "beyond the kernel's limit"),
}


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_refuses_malformed_snapshot(timens, rundir, tmp_path, valid, case):
    make, message = REFUSED[case]
    path = tmp_path / "bad.json"
    content = make(valid)
    path.write_bytes(content.encode(errors="surrogateescape"))
    args = ["--elapsed", "wall"] if case == "erange-after-wall" else []
    before = state_of(rundir)
    r = timens("restore", path, "--name", "r", *args)
    assert r.returncode == 125, r.stderr
    assert r.stderr.startswith("timens: ") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert message in r.stderr
    assert state_of(rundir) == before


def test_refusals_outside_the_file(timens, rundir, tmp_path, valid):
    good = tmp_path / "good.json"
    good.write_text(text(valid))
    ahead = copy.deepcopy(valid)
    ahead["taken"]["host_realtime_ns"] = time.time_ns() + DAY
    future = tmp_path / "future.json"
    future.write_text(text(ahead))
    assert timens("create", "r").returncode == 0
    cases = [
        (["restore", good, "--name", "r"], 'namespace "r" exists already'),
        (["restore", good, "--name", "a/b"], "invalid namespace name"),
        (["restore", good, "--name", ".."], "invalid namespace name"),
        (["restore", tmp_path / "missing.json", "--name", "x"], "cannot read snapshot"),
        (["restore", tmp_path, "--name", "x"], "cannot read snapshot"),
        (["restore", future, "--elapsed", "wall", "--name", "x"], "behind the time of the save"),
    ]
    before = state_of(rundir)
    for args, message in cases:
        r = timens(*args)
        assert r.returncode == 125 and r.stderr.count("\n") == 1 and message in r.stderr, (args, r.stderr)
        assert state_of(rundir) == before
    assert timens("restore", future, "--name", "x").returncode == 0  # frozen does not need the host clock
