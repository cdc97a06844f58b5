"""timens-runtime as podman's --runtime, clocks asked for with --annotation."""
import os

import pytest

from containers import rootfs
from containers.checks import DAY, YEAR_2038, leftovers, uptime_of
from containers.engines import PODMAN_ULIMITS, Podman

IMAGE = "localhost/timens-test:1"


@pytest.fixture(scope="module")
def podman(tmp_path_factory, engine_rundir):
    _, tar = rootfs.build(tmp_path_factory.mktemp("image"))
    engine = Podman(tmp_path_factory.mktemp("podman"), engine_rundir)
    try:
        imported = engine.podman("import", tar, IMAGE)
        assert imported.returncode == 0, imported.stderr
        yield engine.podman
    finally:
        engine.stop()


def run_args(*args):
    return ["run", "--network", "none", *PODMAN_ULIMITS, *args]


def test_annotations_set_the_clocks(podman, engine_rundir):
    out = podman(*run_args("--rm", "--annotation", "io.timens.boottime==400d",
                           "--annotation", f"io.timens.realtime={YEAR_2038}",
                           IMAGE, "sh", "-c", f"cat /proc/uptime; {rootfs.GLIBC_DATE} -u +%Y-%m-%d"))
    assert out.returncode == 0, out.stderr
    uptime, date = out.stdout.split("\n")[:2]
    assert 400 * DAY <= uptime_of(uptime) < 400 * DAY + 60
    assert date == "2038-01-19"
    assert leftovers(engine_rundir) == []


def test_exec_joins_the_container_clocks(podman, engine_rundir):
    started = podman(*run_args("-d", "--annotation", "io.timens.monotonic=+30d",
                               "--annotation", "io.timens.realtime=@2031-02-03T00:00:00Z", IMAGE, "sleep", "300"))
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    try:
        assert f"ns/{cid}" in leftovers(engine_rundir)
        out = podman("exec", cid, rootfs.GLIBC_DATE, "-u", "+%Y-%m-%d")
        assert out.returncode == 0 and out.stdout.strip() == "2031-02-03", out.stderr
        out = podman("exec", cid, "readlink", "/proc/self/ns/time")
        assert out.stdout.strip() != os.readlink("/proc/self/ns/time")
    finally:
        assert podman("rm", "-f", "-t", "0", cid).returncode == 0
    assert leftovers(engine_rundir) == []


def test_a_malformed_annotation_fails_cleanly(podman, engine_rundir):
    out = podman(*run_args("--rm", "--annotation", "io.timens.realtime=@yesterday", IMAGE, "true"))
    assert out.returncode != 0
    assert "timens-runtime: annotation io.timens.realtime: malformed date 'yesterday'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert leftovers(engine_rundir) == []
