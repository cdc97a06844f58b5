"""timens-runtime under a real dockerd (started here, with private state)."""
import os
import signal

import pytest

from containers import rootfs
from containers.checks import DAY, YEAR_2038, eventually, host_uptime, leftovers, listed_names, timens, uptime_of
from containers.engines import Dockerd

IMAGE = "timens-test:1"


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory, engine_rundir):
    _, tar = rootfs.build(tmp_path_factory.mktemp("image"))
    daemon = Dockerd(tmp_path_factory.mktemp("dockerd"), {**os.environ, "TIMENS_RUNDIR": str(engine_rundir)})
    try:
        daemon.start()
        imported = daemon.docker("import", tar, IMAGE)
        assert imported.returncode == 0, imported.stderr
        yield daemon
    except BaseException:
        print(daemon.log())
        raise
    finally:
        daemon.stop()


@pytest.fixture
def docker(dockerd, engine_rundir):
    """docker, and after the test: nothing of timens-runtime left behind."""
    yield dockerd.docker
    ids = dockerd.docker("ps", "-aq").stdout.split()
    if ids:
        dockerd.docker("rm", "-f", *ids)
    assert eventually(lambda: leftovers(engine_rundir) == []), leftovers(engine_rundir)


def run(docker, *args):
    out = docker("run", "--rm", "--runtime", "timens", *args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def start(docker, *args):
    out = docker("run", "-d", "--runtime", "timens", *args)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def exec_(docker, cid, *cmd):
    out = docker("exec", cid, *cmd)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_no_clocks_runs_in_the_host_namespace(docker, engine_rundir):
    out = run(docker, IMAGE, "sh", "-c", "readlink /proc/self/ns/time; ls /run")
    link, listing = out.split("\n", 1)
    assert link == os.readlink("/proc/self/ns/time")
    assert "timens" not in listing  # nothing mounted either


def test_boottime_reaches_proc_uptime(docker):
    before = host_uptime()
    uptime = uptime_of(run(docker, "-e", "TIMENS_BOOTTIME==400d", IMAGE, "cat", "/proc/uptime"))
    assert 400 * DAY <= uptime < 400 * DAY + 60
    assert host_uptime() - before < 60


def test_realtime_reaches_a_dynamically_linked_date(docker):
    out = run(docker, "-e", f"TIMENS_REALTIME={YEAR_2038}", IMAGE, rootfs.GLIBC_DATE, "-u", "+%Y-%m-%d")
    assert out.strip() == "2038-01-19"


def test_realtime_reaches_static_busybox_through_the_vdso_patch(docker):
    """busybox is statically linked: the container's process and a docker
    exec'd one run under timens-tracer, which patches their vDSO."""
    assert run(docker, "-e", f"TIMENS_REALTIME={YEAR_2038}", IMAGE, "busybox", "date", "-u", "+%Y") == "2038\n"
    cid = start(docker, "-e", f"TIMENS_REALTIME={YEAR_2038}", IMAGE, "sleep", "300")
    assert exec_(docker, cid, "busybox", "date", "-u", "+%Y") == "2038"


def test_live_set_is_seen_by_the_container_and_by_exec(docker, engine_rundir):
    loop = f"while true; do {rootfs.GLIBC_DATE} -u +%Y > /tmp/year.new; mv /tmp/year.new /tmp/year; sleep 0.1; done"
    cid = start(docker, "-e", f"TIMENS_REALTIME={YEAR_2038}", "-e", "TIMENS_MONOTONIC=+7d", IMAGE, "sh", "-c", loop)
    assert cid in listed_names(engine_rundir)
    assert exec_(docker, cid, rootfs.GLIBC_DATE, "-u", "+%Y") == "2038"
    shown = timens(engine_rundir, "show", cid)
    assert shown.returncode == 0 and "2038-01-19" in shown.stdout, shown.stdout + shown.stderr

    changed = timens(engine_rundir, "set", cid, "--realtime", "@2030-06-01T00:00:00Z")
    assert changed.returncode == 0, changed.stderr
    assert exec_(docker, cid, rootfs.GLIBC_DATE, "-u", "+%Y-%m") == "2030-06"
    assert eventually(lambda: exec_(docker, cid, "cat", "/tmp/year") == "2030")

    saved = timens(engine_rundir, "save", cid)
    assert saved.returncode == 0 and '"schema"' in saved.stdout, saved.stderr


def test_two_containers_run_at_different_times(docker):
    a = start(docker, "-e", "TIMENS_BOOTTIME==100d", "-e", "TIMENS_REALTIME=@2030-01-01T00:00:00Z", IMAGE, "sleep", "300")
    b = start(docker, "-e", "TIMENS_BOOTTIME==900d", "-e", "TIMENS_REALTIME=@2040-01-01T00:00:00Z", IMAGE, "sleep", "300")
    assert 100 * DAY <= uptime_of(exec_(docker, a, "cat", "/proc/uptime")) < 100 * DAY + 60
    assert 900 * DAY <= uptime_of(exec_(docker, b, "cat", "/proc/uptime")) < 900 * DAY + 60
    assert exec_(docker, a, rootfs.GLIBC_DATE, "-u", "+%Y") == "2030"
    assert exec_(docker, b, rootfs.GLIBC_DATE, "-u", "+%Y") == "2040"


def test_rm_f_leaves_nothing(docker, engine_rundir):
    cid = start(docker, "-e", f"TIMENS_REALTIME={YEAR_2038}", IMAGE, "sleep", "300")
    assert leftovers(engine_rundir) != []
    assert docker("rm", "-f", cid).returncode == 0
    assert leftovers(engine_rundir) == []
    assert cid not in listed_names(engine_rundir)


def test_sigkill_of_the_container_leaves_nothing(docker, engine_rundir):
    cid = start(docker, "-e", f"TIMENS_REALTIME={YEAR_2038}", "-e", "TIMENS_BOOTTIME=+1d", IMAGE, "sleep", "300")
    pid = int(docker("inspect", "-f", "{{.State.Pid}}", cid).stdout)
    os.kill(pid, signal.SIGKILL)
    assert docker("wait", cid).stdout.strip() == "137"
    assert eventually(lambda: leftovers(engine_rundir) == []), leftovers(engine_rundir)
    assert cid not in listed_names(engine_rundir)


def test_a_malformed_value_fails_the_create_cleanly(docker, engine_rundir):
    out = docker("run", "--rm", "--runtime", "timens", "-e", "TIMENS_BOOTTIME=soon", IMAGE, "true")
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if "timens-runtime:" in line]
    assert len(errors) == 1 and "environment TIMENS_BOOTTIME: malformed boottime value 'soon'" in errors[0], out.stderr
    assert "Traceback" not in out.stderr
    assert leftovers(engine_rundir) == []


CAP_SYS_TIME = 1 << 25


def bounding_sets(out):
    return [int(line.split()[1], 16) for line in out.splitlines()]


def test_a_container_with_clocks_never_holds_cap_sys_time(docker):
    """Asked for (--cap-add, as --privileged does), CAP_SYS_TIME is dropped,
    not refused: the container runs, and cannot set the host's clock."""
    show = ["sh", "-c", "grep CapBnd /proc/self/status"]
    plain = run(docker, "--cap-add", "SYS_TIME", IMAGE, *show)
    assert all(caps & CAP_SYS_TIME for caps in bounding_sets(plain))
    clocked = run(docker, "--cap-add", "SYS_TIME", "-e", "TIMENS_BOOTTIME=+1d", IMAGE, *show)
    assert not any(caps & CAP_SYS_TIME for caps in bounding_sets(clocked))
    cid = start(docker, "--cap-add", "SYS_TIME", "-e", "TIMENS_REALTIME=+1d", IMAGE, "sleep", "300")
    assert not any(caps & CAP_SYS_TIME for caps in bounding_sets(exec_(docker, cid, *show)))


def test_stop_and_start_makes_the_clocks_anew(docker, engine_rundir):
    cid = start(docker, "-e", "TIMENS_BOOTTIME==30d", IMAGE, "sleep", "300")
    assert docker("stop", "-t", "0", cid).returncode == 0
    assert eventually(lambda: leftovers(engine_rundir) == []), leftovers(engine_rundir)
    assert docker("start", cid).returncode == 0
    assert 30 * DAY <= uptime_of(exec_(docker, cid, "cat", "/proc/uptime")) < 30 * DAY + 60
    assert cid in listed_names(engine_rundir)
