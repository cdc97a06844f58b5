"""dockerd, podman and containerd, each with state of its own under one directory.

Flags that work on this machine (Debian 12, kernel 6.18, no registry, no
iptables): dockerd without bridge or iptables, podman with runc-friendly
ulimits (root lacks CAP_SYS_RESOURCE here), cgroupfs and file events.
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DOCKER = "/usr/bin/docker"  # /usr/local/bin/docker, first on PATH here, is another client
RUNTIME = str(Path(sys.executable).parent / "timens-runtime")  # the command under test (the C front end)
PODMAN_ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def run(argv, timeout=120, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(argv, timeout=timeout, **kwargs)


def wait_until(check, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


def unmount_under(base):
    """Lazily unmount whatever an engine left mounted under BASE, deepest first."""
    base = str(base)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p == base or p.startswith(base + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


class Daemon:
    """A daemon process with a log; stopped and cleaned up by stop()."""

    def __init__(self, base, env):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.proc = None

    def spawn(self, argv):
        log = open(self.base / "daemon.log", "w")
        self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def log(self):
        return (self.base / "daemon.log").read_text(errors="replace")[-3000:]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)


class Dockerd(Daemon):
    def start(self, *extra_runtimes):
        """Start with the runtime "timens" and EXTRA_RUNTIMES ("NAME=PATH")."""
        self.sock = self.base / "docker.sock"
        self.spawn([
            "dockerd", "--data-root", str(self.base / "data"), "--exec-root", str(self.base / "exec"),
            "-H", f"unix://{self.sock}", "--pidfile", str(self.base / "docker.pid"),
            "--iptables=false", "--ip6tables=false", "--bridge=none",
            "--add-runtime", f"timens={RUNTIME}", *(f"--add-runtime={r}" for r in extra_runtimes),
        ])
        wait_until(lambda: self.proc.poll() is None and self.docker("version").returncode == 0, "dockerd answering")
        return self

    def docker(self, *args, **kwargs):
        return run([DOCKER, "-H", f"unix://{self.sock}", *map(str, args)], **kwargs)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            ids = self.docker("ps", "-aq").stdout.split()
            if ids:
                self.docker("rm", "-f", *ids)
        super().stop()


class Podman:
    """podman has no daemon: every command names the private state.

    conmon gives the runtime none of our environment, and podman's cleanup
    process drops --runtime-flag, so the private run directory is set by a
    two-line script, the way a user points podman at another one."""

    def __init__(self, base, rundir):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.runtime = self.base / "timens-runtime"
        self.runtime.write_text(f"#!/bin/sh\nTIMENS_RUNDIR={rundir} exec {RUNTIME} \"$@\"\n")
        self.runtime.chmod(0o755)

    def podman(self, *args, **kwargs):
        return run([
            "podman", "--root", str(self.base / "root"), "--runroot", str(self.base / "runroot"),
            "--tmpdir", str(self.base / "tmp"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
            "--events-backend", "file", "--runtime", str(self.runtime), *map(str, args),
        ], **kwargs)

    def stop(self):
        self.podman("rm", "-af", "-t", "0")
        unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)


class Containerd(Daemon):
    CONFIG = """version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{base}/containerd.sock"
[ttrpc]
  address = "{base}/containerd.sock.ttrpc"
"""

    def start(self):
        config = self.base / "config.toml"
        config.write_text(self.CONFIG.format(base=self.base))
        self.spawn(["containerd", "--config", str(config)])
        wait_until(lambda: self.proc.poll() is None and self.ctr("version").returncode == 0, "containerd answering")
        return self

    def ctr(self, *args, **kwargs):
        return run(["ctr", "--address", str(self.base / "containerd.sock"), *map(str, args)], **kwargs)
