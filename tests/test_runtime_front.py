"""timens-runtime's front end: which calls it runs the real runtime for
itself (no Python started), which it runs inside a container's namespace,
and which it hands to the Python implementation.

A copy of the front end runs next to a `timens-runtime-py` that notes each
call and goes on to the real one; the "real runtime" is a script that
notes its arguments and where it ran."""
import json
import os
import shutil
import subprocess

import pytest

from containers.checks import leftovers, listed_names
from containers.engines import RUNTIME

CAP_SYS_TIME = 25
# What Docker's configs look like where it matters: the syscall "time" in
# the seccomp profile is no request for a time namespace.
DOCKER_LIKE = {
    "ociVersion": "1.0.2",
    "process": {"args": ["true"], "env": ["PATH=/bin", "HOSTNAME=x"], "cwd": "/"},
    "root": {"path": "rootfs"},
    "linux": {
        "namespaces": [{"type": "pid"}, {"type": "mount"}],
        "seccomp": {"syscalls": [{"names": ["sync", "time", "timer_create"], "action": "SCMP_ACT_ALLOW"}]},
    },
}


class Front:
    def __init__(self, base, rundir):
        self.bin = base / "bin"
        self.bin.mkdir()
        shutil.copy(RUNTIME, self.bin / "timens-runtime")
        self.python_log = base / "python-calls"
        self.record = base / "real-runtime-call"
        (self.bin / "timens-runtime-py").write_text(
            f'#!/bin/sh\necho "$*" >> {self.python_log}\nexec {RUNTIME}-py "$@"\n')
        self.real = base / "real-runtime"
        self.real.write_text(
            "#!/bin/sh\n"
            f'{{ printf "%s\\n" "$@"; echo --; readlink /proc/self/ns/time; echo "LD_PRELOAD=${{LD_PRELOAD-}}"; '
            f"grep CapBnd /proc/self/status; }} > {self.record}\n"
            'exit "${FAKE_EXIT:-0}"\n')
        for program in ("timens-runtime-py", "real-runtime"):
            os.chmod(base / ("bin" if program.startswith("timens") else "") / program, 0o755)
        self.root = base / "state"  # the real runtime's --root: a directory per live container
        self.root.mkdir()
        self.env = {**os.environ, "TIMENS_RUNDIR": str(rundir)}

    def __call__(self, *args, **env):
        return subprocess.run([self.bin / "timens-runtime", *map(str, args)], env={**self.env, **env},
                              capture_output=True, text=True, timeout=60)

    def python_calls(self):
        calls = self.python_log.read_text().splitlines() if self.python_log.exists() else []
        self.python_log.unlink(missing_ok=True)
        return calls

    def last_call(self):
        """(argv, time namespace, LD_PRELOAD, bounding set) of the real runtime's last call."""
        lines = self.record.read_text().splitlines()
        at = lines.index("--")
        return lines[:at], lines[at + 1], lines[at + 2], int(lines[at + 3].split()[1], 16)


@pytest.fixture
def front(tmp_path, rundir):
    return Front(tmp_path, rundir)


def bundle(base, name, config):
    path = base / name
    path.mkdir()
    (path / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    return path


def test_a_container_without_clocks_never_starts_python(front, tmp_path, rundir):
    path = bundle(tmp_path, "plain", DOCKER_LIKE)
    host_ns = os.readlink("/proc/self/ns/time")
    calls = [
        ["--root", front.root, "--log", "/l", "--log-format=json", "create", "--bundle", path, "--pid-file", "/p", "c1"],
        ["--root", front.root, "start", "c1"],
        ["--root", front.root, "state", "c1"],
        ["--root", front.root, "kill", "--all", "c1", "KILL"],
        ["--root", front.root, "delete", "c1"],
        ["--root", front.root, "delete", "--force", "c1"],
        ["-root", front.root, "--systemd-cgroup", "run", "-b", path, "c2"],
        ["--version"],
    ]
    for argv in calls:
        argv = [str(a) for a in argv]
        assert front("--timens-runtime", front.real, *argv).returncode == 0
        assert front.last_call()[:2] == (argv, host_ns)
        out = front(f"--timens-runtime={front.real}", *argv)
        assert out.returncode == 0 and front.last_call()[0] == argv
    assert front.python_calls() == []
    assert leftovers(rundir) == []


ASKING = {
    "environment": {**DOCKER_LIKE, "process": {"args": ["true"], "env": ["TIMENS_BOOTTIME=+1d"]}},
    "annotation": {**DOCKER_LIKE, "annotations": {"io.timens.monotonic": "+1h"}},
    "time namespace": json.dumps({**DOCKER_LIKE, "linux": {"namespaces": [{"type": "time"}]}}).replace(
        '"type": "time"', '"type" :\n "time"'),
    "escaped": json.dumps({**DOCKER_LIKE, "process": {"args": ["true"], "env": ["TIMENS_BOOTTIME=+1d"]}}).replace(
        "TIMENS", "\\u0054IMENS"),
}


@pytest.mark.parametrize("config", ASKING.values(), ids=ASKING.keys())
def test_a_container_that_asks_for_clocks_goes_to_python(front, tmp_path, rundir, config):
    path = bundle(tmp_path, "asking", config)
    argv = ["--root", str(front.root), "create", "--bundle", str(path), "c1"]
    out = front("--timens-runtime", front.real, *argv)
    assert out.returncode == 0, out.stderr
    assert front.python_calls() == [" ".join(["--timens-runtime", str(front.real), *argv])]
    assert "c1" in listed_names(rundir)
    (front.root / "c1").mkdir()
    assert front("--timens-runtime", front.real, "--root", front.root, "delete", "c1").returncode == 0
    assert len(front.python_calls()) == 1  # delete removes the namespace: Python's
    assert leftovers(rundir) == []


def test_a_container_with_clocks_is_started_inside_its_namespace_without_python(front, tmp_path, rundir):
    path = bundle(tmp_path, "clocks", {**DOCKER_LIKE, "process": {"args": ["true"], "env": ["TIMENS_BOOTTIME=+1d"]}})
    assert front("--timens-runtime", front.real, "--root", front.root, "create", "--bundle", path, "c1").returncode == 0
    (front.root / "c1").mkdir()  # the real runtime's state: the container lives
    front.python_calls()
    inode = os.stat(rundir / "ns" / "c1").st_ino
    for command in (["start", "c1"], ["state", "c1"], ["kill", "c1", "TERM"]):
        argv = ["--root", str(front.root), *command]
        assert front("--timens-runtime", front.real, *argv, LD_PRELOAD="libc.so.6").returncode == 0
        called, ns, preload, bounding = front.last_call()
        assert (called, ns, preload) == (argv, f"time:[{inode}]", "LD_PRELOAD=")
        assert not bounding >> CAP_SYS_TIME & 1  # as timens-helper enter leaves it
    assert front("--timens-runtime", front.real, "--root", front.root, "state", "other").returncode == 0
    assert front.last_call()[1] == os.readlink("/proc/self/ns/time")  # another container's: outside
    assert front.python_calls() == []

    # exec changes the process (LD_PRELOAD with REALTIME, CAP_SYS_TIME): Python's,
    # also when options with values come before the container id
    argv = ["--root", str(front.root), "exec", "--cwd", "/", "-e", "A=1", "--user=0", "c1", "true"]
    assert front("--timens-runtime", front.real, *argv).returncode == 0
    assert len(front.python_calls()) == 1
    assert front.last_call()[1] == f"time:[{inode}]"
    assert front("--timens-runtime", front.real, "--root", front.root, "delete", "c1").returncode == 0
    assert leftovers(rundir) == []


def test_a_namespace_whose_container_is_gone_is_removed_on_the_next_call(front, tmp_path, rundir):
    """The real runtime's state of the container went away behind our back
    (a killed engine's cleanup, `runc delete` run directly): the next call,
    for any container, goes to Python, which asks the runtime and removes
    the namespace. (tests/test_runtime_runc.py does this with real runc.)"""
    path = bundle(tmp_path, "clocks", {**DOCKER_LIKE, "process": {"args": ["true"], "env": ["TIMENS_BOOTTIME=+1d"]}})
    assert front("--timens-runtime", front.real, "--root", front.root, "create", "--bundle", path, "c1").returncode == 0
    (front.root / "c1").mkdir()
    assert front("--timens-runtime", front.real, "--root", front.root, "state", "c2").returncode == 0
    front.python_calls()
    assert "c1" in listed_names(rundir)

    (front.root / "c1").rmdir()
    out = front("--timens-runtime", front.real, "--root", front.root, "state", "c2", FAKE_EXIT="1")
    assert out.returncode == 1  # the real runtime's answer about c2, passed on
    assert len(front.python_calls()) == 1
    assert leftovers(rundir) == []
