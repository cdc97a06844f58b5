"""timens-runtime through containerd's runc shim (`ctr --runc-binary`): the
path a Kubernetes RuntimeClass handler with BinaryName takes."""
import os
import uuid

import pytest

from containers import rootfs
from containers.checks import DAY, YEAR_2038, leftovers, uptime_of
from containers.engines import RUNTIME, Containerd


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    root, _ = rootfs.build(tmp_path_factory.mktemp("image"))
    return root


@pytest.fixture(scope="module")
def ctr(tmp_path_factory, engine_rundir):
    daemon = Containerd(tmp_path_factory.mktemp("containerd"), {**os.environ, "TIMENS_RUNDIR": str(engine_rundir)})
    try:
        daemon.start()
        yield daemon.ctr
    except BaseException:
        print(daemon.log())
        raise
    finally:
        daemon.stop()


def run_args(image_root, *options):
    return ["run", "--runc-binary", RUNTIME, *options, "--rootfs", image_root, f"timens-{uuid.uuid4().hex[:12]}"]


def test_annotations_reach_the_container(ctr, image_root, engine_rundir):
    out = ctr(*run_args(image_root, "--rm", "--annotation", "io.timens.boottime==400d",
                        "--annotation", f"io.timens.realtime={YEAR_2038}"),
              "/bin/sh", "-c", f"cat /proc/uptime; {rootfs.GLIBC_DATE} -u +%Y")
    assert out.returncode == 0, out.stderr
    uptime, year = out.stdout.split("\n")[:2]
    assert 400 * DAY <= uptime_of(uptime) < 400 * DAY + 60
    assert year == "2038"
    assert leftovers(engine_rundir) == []


def test_task_exec_joins_and_kill_cleans_up(ctr, image_root, engine_rundir):
    args = run_args(image_root, "-d", "--env", "TIMENS_BOOTTIME==50d")
    cid = args[-1]
    started = ctr(*args, "/bin/sleep", "300")
    assert started.returncode == 0, started.stderr
    try:
        out = ctr("task", "exec", "--exec-id", "probe", cid, "/bin/cat", "/proc/uptime")
        assert out.returncode == 0, out.stderr
        assert 50 * DAY <= uptime_of(out.stdout) < 50 * DAY + 60
    finally:
        ctr("task", "kill", "-s", "SIGKILL", cid)
        ctr("task", "delete", "-f", cid)
        ctr("container", "delete", cid)
    assert leftovers(engine_rundir) == []
