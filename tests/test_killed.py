"""timens killed with SIGKILL at random points of create, run, set and
restore: whatever it was doing, what it leaves is cleaned up by the next
commands (delete of the names, any create/run/list sweeping pages), and no
mount, page, metadata file or holder process is left.
"""
import json
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import timens_argv

ROUNDS = 24


def session_processes(sessions):
    """Pids of live (not zombie) processes in any of SESSIONS."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) in sessions:
            found.append(int(entry))
    return found


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def files_in(rundir, sub):
    return sorted(p.name for p in (rundir / sub).iterdir()) if (rundir / sub).exists() else []


@pytest.fixture
def unmount_after(rundir):
    """Whatever the test's outcome, no mount of it is left on this machine."""
    yield
    for mount in mounts_under(rundir):
        subprocess.run(["umount", "--lazy", mount], capture_output=True)


def test_kill_9_at_random_points_leaves_nothing(timens, rundir, tmp_path, unmount_after):
    snap = tmp_path / "snap.json"
    assert timens("create", "base", "--boottime", "+1d", "--realtime", "+2d").returncode == 0
    assert timens("save", "base", "-o", snap).returncode == 0
    assert timens("delete", "base").returncode == 0
    steps = [
        ("create", "k{i}", "--boottime", "+1h", "--realtime", "+3d"),
        ("run", "--realtime", "+1d", "--", "sh", "-c", "sleep 30 & sleep 30"),
        ("set", "kept", "--realtime", "+{i}h"),
        ("restore", str(snap), "--name", "r{i}"),
        ("restore", str(snap), "--", "sleep", "30"),
    ]
    assert timens("create", "kept", "--realtime", "+1h").returncode == 0
    seed = int(os.environ.get("TIMENS_KILL_SEED", time.time_ns()))
    print(f"TIMENS_KILL_SEED={seed}")  # shown on failure, to replay the same kills
    rng = random.Random(seed)
    sessions = set()
    for i in range(ROUNDS):
        args = [a.format(i=i) for a in rng.choice(steps)]
        proc = subprocess.Popen(timens_argv(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        sessions.add(proc.pid)
        time.sleep(rng.uniform(0, 0.25))
        proc.send_signal(signal.SIGKILL)  # timens alone: what it started lives on, as after a crash
        proc.wait()
    # The commands end too, as a crashed session's would; holders end by themselves.
    helpers = lambda: [p for p in session_processes(sessions) if "timens-helper" in cmdline(p)]  # noqa: E731
    for pid in session_processes(sessions):
        if "timens-helper" not in cmdline(pid):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while helpers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [cmdline(p) for p in helpers()] == [], "a holder outlived the killed timens"

    names = files_in(rundir, "ns")
    if names:
        proc = timens("delete", *names)
        assert proc.returncode == 0, proc.stderr
    listed = timens("list", "--json")  # sweeps the pages of namespaces that are gone
    assert listed.returncode == 0, listed.stderr
    assert not [n for n in json.loads(listed.stdout)["namespaces"] if n["name"]]
    assert mounts_under(rundir) == []
    assert files_in(rundir, "ns") == []
    assert files_in(rundir, "meta") == []
    assert files_in(rundir, "pages") == []
