"""timens as a normal user: the kernel layer through a user namespace.

The package is copied where `nobody` can read it and run with Debian's
/usr/bin/python3, since the test virtualenv may live under /root.
"""
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import timens_argv

PACKAGE = Path(__file__).parent.parent / "src" / "timens"
DAY = 86400

pytestmark = pytest.mark.unprivileged


@pytest.fixture(scope="module")
def public_copy():
    base = Path(tempfile.mkdtemp(prefix="timens-public-", dir="/tmp"))
    shutil.copytree(PACKAGE, base / "timens", ignore=shutil.ignore_patterns("__pycache__"))
    for root, dirs, files in os.walk(base):
        for name in dirs + files:
            os.chmod(os.path.join(root, name), 0o755)
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base)
    shutil.rmtree(f"/tmp/timens-{nobody_uid()}", ignore_errors=True)


def nobody_uid():
    import pwd

    return pwd.getpwnam("nobody").pw_uid


def as_nobody(public, *args, **kwargs):
    env = ["env", "-i", "PATH=/usr/bin:/bin", f"PYTHONPATH={public}", "HOME=/tmp", "LANG=C.UTF-8"]
    cmd = ["runuser", "-u", "nobody", "--", *env, "/usr/bin/python3", "-m", "timens", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kwargs)


def host_uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def test_run_as_normal_user_moves_boottime(public_copy):
    proc = as_nobody(public_copy, "run", "--boottime", "+1d", "--monotonic", "=5d", "--", "cat", "/proc/uptime")
    assert proc.returncode == 0, proc.stderr
    assert abs(float(proc.stdout.split()[0]) - host_uptime() - DAY) < 2


def test_normal_user_keeps_own_identity_and_status(public_copy):
    proc = as_nobody(public_copy, "run", "--boottime", "+1d", "--", "sh", "-c", "id -u; exit 5")
    assert proc.returncode == 5, proc.stderr
    assert proc.stdout.strip() == str(nobody_uid())


def test_normal_user_realtime(public_copy):
    before = time.time()
    proc = as_nobody(public_copy, "run", "--realtime", "+1000d", "--", "date", "+%s")
    assert proc.returncode == 0, proc.stderr
    assert abs(int(proc.stdout) - before - 1000 * DAY) < 5
    assert not list(Path(f"/tmp/timens-{nobody_uid()}", "pages").glob("*")), "the run's page went with it"


def test_normal_user_named_namespace_needs_root(public_copy):
    proc = as_nobody(public_copy, "create", "lab", "--boottime", "+1d")
    assert proc.returncode == 125
    assert "need root" in proc.stderr and proc.stderr.count("\n") == 1
    assert not Path(f"/tmp/timens-{nobody_uid()}", "ns", "lab").exists()


def test_normal_user_bad_input_is_125(public_copy):
    proc = as_nobody(public_copy, "run", "--boottime", "-5000d", "--", "true")
    assert proc.returncode == 125
    assert "out of range" in proc.stderr and "Traceback" not in proc.stderr


def test_normal_user_lists_own_namespaces(public_copy):
    proc = as_nobody(public_copy, "run", "--monotonic", "+77s", "--", "/usr/bin/python3", "-m", "timens", "list", "--json",
                     env=None)
    assert proc.returncode == 0, proc.stderr
    import json

    listing = json.loads(proc.stdout)
    assert any(n["offsets"]["monotonic_ns"] == 77 * 10**9 and n["processes"] >= 1 for n in listing["namespaces"])


def test_root_joins_a_normal_users_namespace_but_not_its_run_directory(public_copy, timens):
    """root enters nobody's namespace (BOOTTIME +2d) but takes no path from
    nobody's environment: the page in nobody's run directory is not used."""
    env = ["env", "-i", "PATH=/usr/bin:/bin", f"PYTHONPATH={public_copy}", "HOME=/tmp"]
    user = subprocess.Popen(
        ["runuser", "-u", "nobody", "--", *env, "/usr/bin/python3", "-m", "timens", "run", "--realtime", "+1000d",
         "--boottime", "+2d", "--", "sh", "-c", "echo $$; exec sleep 30"],
        stdout=subprocess.PIPE, text=True,
    )
    pid = None
    try:
        pid = int(user.stdout.readline())
        proc = timens("exec", "--pid", pid, "--", "sh", "-c", "date +%s; cat /proc/uptime")
        assert proc.returncode == 0, proc.stderr
        date, uptime = proc.stdout.splitlines()
        assert abs(int(date) - time.time()) < 5, "root read a page from the user's run directory"
        assert abs(float(uptime.split()[0]) - host_uptime() - 2 * DAY) < 2
    finally:
        if pid:
            os.kill(pid, 9)
        user.kill()
        user.wait()


def test_says_why_when_user_namespaces_are_refused():
    """A normal user where no user namespace may be made: one line saying why.

    The limit is set to 0 inside a user namespace of the test's own (the
    sysctl is per user namespace), so the machine's setting is untouched.
    """
    src = PACKAGE.parent
    script = (
        "echo 0 > /proc/sys/user/max_user_namespaces && "
        f"exec setpriv --inh-caps=-all --ambient-caps=-all env PYTHONPATH={src} "
        "/usr/bin/python3 -m timens run --boottime +1d -- true"
    )
    proc = subprocess.run(
        ["unshare", "--user", "--map-user=65534", "--map-group=65534", "--keep-caps", "sh", "-c", script],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 125
    assert "cannot create a user namespace" in proc.stderr
    assert "user.max_user_namespaces is 0" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_normal_user_cannot_reach_roots_namespaces(public_copy, timens, rundir):
    """nobody may neither look into nor change a namespace root made: one
    line, 125, and root's page stays as it was."""
    root_job = subprocess.Popen(
        timens_argv("run", "--realtime", "+5d", "--", "sh", "-c", "echo $$; exec sleep 30"),
        stdout=subprocess.PIPE, text=True,
    )
    pid = None
    try:
        pid = int(root_job.stdout.readline())
        for args in (("show", "--pid", pid), ("set", "--pid", pid, "--realtime", "+1h"),
                     ("exec", "--pid", pid, "--", "true")):
            proc = as_nobody(public_copy, *args)
            assert proc.returncode == 125, (args, proc.stderr)
            assert proc.stderr.startswith("timens: ") and proc.stderr.count("\n") == 1, proc.stderr
        proc = timens("exec", "--pid", pid, "--", "date", "+%s")
        assert abs(int(proc.stdout) - time.time() - 5 * DAY) < 5
    finally:
        if pid:
            os.kill(pid, 9)
        root_job.wait()
