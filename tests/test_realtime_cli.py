"""REALTIME through the timens command: run, create, set, settime inside, show.

Every settime runs without CAP_SYS_TIME, so a bug fails instead of moving
this machine's clock; each test also checks that the host clock did not jump.
"""
import json
import os
import subprocess
import time

import pytest

from conftest import timens_argv

DAY = 86400
NS = 10**9
YEAR = 36525 * 864  # 365.25 days in seconds
NO_SYS_TIME = ["setpriv", "--bounding-set", "-sys_time", "--inh-caps", "-sys_time"]


def host_jump():
    """REALTIME - MONOTONIC: changes only if the host clock is set."""
    return time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_MONOTONIC)


@pytest.fixture(autouse=True)
def host_clock_untouched():
    before = host_jump()
    yield
    assert abs(host_jump() - before) < 50_000_000, "the host REALTIME clock moved"


def epoch(out):
    return int(out.strip())


def test_run_at_an_instant(timens):
    proc = timens("run", "--realtime", "@2038-01-19T03:14:07Z", "--", "date", "-u", "+%F %T")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout in ("2038-01-19 03:14:07\n", "2038-01-19 03:14:08\n")


def test_run_with_an_offset_in_python(timens):
    code = "import datetime, time; print(int(time.time())); print(datetime.datetime.now().year)"
    proc = timens("run", "--realtime", "-400d", "--", "python3", "-c", code)
    assert proc.returncode == 0, proc.stderr
    seconds, year = proc.stdout.split()
    assert abs(int(seconds) - (time.time() - 400 * DAY)) < 5


def test_library_is_loaded_only_with_a_realtime_offset(timens):
    show = ["sh", "-c", 'echo "${LD_PRELOAD:-none}"; grep -c libtimens /proc/self/maps || true']
    plain = timens("run", "--boottime", "+1d", "--", *show).stdout.split()
    assert plain == ["none", "0"]
    shifted = timens("run", "--realtime", "+1d", "--", *show).stdout.split()
    assert shifted[0].endswith("libtimens.so") and shifted[1] != "0"
    # An inherited LD_PRELOAD of libtimens is dropped where there is no page,
    # and other preloads the user had are kept.
    env = {**os.environ, "LD_PRELOAD": "/lib/x86_64-linux-gnu/libc.so.6"}
    kept = timens("run", "--", "sh", "-c", 'echo "$LD_PRELOAD"', env=env).stdout.strip()
    assert kept == "/lib/x86_64-linux-gnu/libc.so.6"


def test_named_realtime_story(timens, rundir):
    """The issue's walk-through: create, set, date -s inside, show."""
    assert timens("create", "lab", "--realtime", "+10y", "--boottime", "+30d").returncode == 0
    try:
        now = time.time()
        assert abs(epoch(timens("exec", "lab", "--", "date", "+%s").stdout) - now - 10 * YEAR) < 5

        assert timens("set", "lab", "--realtime", "@2030-01-01T00:00:00Z").returncode == 0
        assert timens("exec", "lab", "--", "date", "-u", "+%F").stdout == "2030-01-01\n"

        host_before = time.time()
        proc = timens("exec", "lab", "--", *NO_SYS_TIME, "date", "-u", "-s", "2031-06-01 12:00")
        assert proc.returncode == 0, proc.stderr
        assert timens("exec", "lab", "--", "date", "-u", "+%F %H").stdout == "2031-06-01 12\n"
        assert abs(time.time() - host_before) < 5, "the host keeps its own date"

        show = json.loads(timens("show", "lab", "--json").stdout)
        target = 1938081600  # 2031-06-01T12:00:00Z
        assert abs(show["clocks"]["realtime"]["inside_ns"] / NS - target) < 5
        assert abs(show["offsets"]["realtime_ns"] / NS - (target - time.time())) < 5
        text = timens("show", "lab").stdout
        assert "REALTIME" in text and "2031-06-01T12:00" in text
        listing = json.loads(timens("list", "--json").stdout)
        (lab,) = [n for n in listing["namespaces"] if n["name"] == "lab"]
        assert lab["offsets"]["realtime_ns"] == show["offsets"]["realtime_ns"]
    finally:
        timens("delete", "lab")
    assert not any((rundir / "pages").iterdir())


def test_settime_inside_needs_a_writable_page(timens, rundir):
    """A process that may not write the page gets EPERM, as with a real clock."""
    assert timens("create", "lab", "--realtime", "+1d").returncode == 0
    try:
        os.chmod(rundir, 0o755)
        os.chmod(rundir.parent, 0o755)
        proc = timens("exec", "lab", "--", "runuser", "-u", "nobody", "--", "date", "-s", "2031-06-01 12:00")
        assert proc.returncode != 0
        assert "Operation not permitted" in proc.stderr
        assert abs(epoch(timens("exec", "lab", "--", "date", "+%s").stdout) - time.time() - DAY) < 5
    finally:
        timens("delete", "lab")


def test_set_reaches_every_running_process(timens):
    """A live change: 24 processes started with `timens exec` all see it.

    `set --realtime -1000d` means host - 1000 d, as at creation (not the
    current offset - 1000 d).
    """
    assert timens("create", "lab", "--realtime", "+1d").returncode == 0
    watch = "while :; do date +%s; sleep 0.05; done"
    procs = [subprocess.Popen(timens_argv("exec", "lab", "--", "sh", "-c", watch), stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
             for _ in range(24)]
    try:
        for p in procs:
            assert abs(int(p.stdout.readline()) - time.time() - DAY) < 5
        assert timens("set", "lab", "--realtime", "-1000d").returncode == 0
        deadline = time.time() + 10
        for p in procs:
            while True:
                value = int(p.stdout.readline())
                if abs(value - (time.time() - 1000 * DAY)) < 5:
                    break
                assert time.time() < deadline, "a process did not see the change"
    finally:
        for p in procs:
            p.terminate()  # timens passes it on: the shell loop ends too
        for p in procs:
            p.wait()
        timens("delete", "lab")


def test_a_stuck_writer_cannot_hang_settime_or_set(timens, rundir):
    """Someone holds the writers' lock and never lets go: both writers give up."""
    import fcntl

    assert timens("create", "lab", "--realtime", "+1d").returncode == 0
    try:
        page = next((rundir / "pages").iterdir())
        with open(page, "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            start = time.monotonic()
            proc = timens("exec", "lab", "--", *NO_SYS_TIME, "date", "-s", "2031-06-01 12:00", timeout=30)
            assert proc.returncode != 0 and "busy" in proc.stderr, proc.stderr
            assert time.monotonic() - start < 10
            proc = timens("set", "lab", "--realtime", "+2d", timeout=30)
            assert proc.returncode == 125 and "lock" in proc.stderr and proc.stderr.count("\n") == 1
        # Released: writers work again, and readers never stopped.
        assert timens("set", "lab", "--realtime", "+2d").returncode == 0
        assert abs(epoch(timens("exec", "lab", "--", "date", "+%s").stdout) - time.time() - 2 * DAY) < 5
    finally:
        timens("delete", "lab")


def test_show_from_inside_another_namespace_compares_with_the_host(timens):
    assert timens("create", "lab", "--boottime", "+5d", "--realtime", "+1000d").returncode == 0
    try:
        proc = timens("run", "--boottime", "+2d", "--realtime", "+3000d", "--", *timens_argv("show", "lab", "--json"))
        assert proc.returncode == 0, proc.stderr
        clocks = json.loads(proc.stdout)["clocks"]
        assert abs(clocks["boottime"]["inside_ns"] - clocks["boottime"]["host_ns"] - 5 * DAY * NS) < NS
        assert abs(clocks["realtime"]["inside_ns"] - clocks["realtime"]["host_ns"] - 1000 * DAY * NS) < NS
        assert abs(clocks["realtime"]["host_ns"] / NS - time.time()) < 5
    finally:
        timens("delete", "lab")


def test_set_repairs_a_page_whose_writer_died(timens, rundir):
    """seq left odd (a writer killed mid-update): show says what to do, set repairs."""
    import struct

    from timens.page import OFF_SEQ

    assert timens("create", "lab", "--realtime", "+1d").returncode == 0
    try:
        page = next((rundir / "pages").iterdir())
        with open(page, "r+b") as f:
            f.seek(OFF_SEQ)
            (seq,) = struct.unpack("<I", f.read(4))
            f.seek(OFF_SEQ)
            f.write(struct.pack("<I", seq | 1))
        broken = timens("show", "lab")
        assert broken.returncode == 125 and "timens set" in broken.stderr
        assert timens("set", "lab", "--realtime", "+2d").returncode == 0
        assert abs(epoch(timens("exec", "lab", "--", "date", "+%s").stdout) - time.time() - 2 * DAY) < 5
        assert timens("show", "lab").returncode == 0
    finally:
        timens("delete", "lab")


def test_a_program_that_drops_root_still_finds_roots_page(rundir):
    """nsenter into a root-made namespace, then setpriv to nobody: the library
    looks in nobody's run directory first, then in root's (/run/timens)."""
    env = {k: v for k, v in os.environ.items() if k != "TIMENS_RUNDIR"}
    name = f"test-drop-root-{os.getpid()}"
    run = lambda *args: subprocess.run(timens_argv(*args), env=env, capture_output=True, text=True)  # noqa: E731
    assert run("create", name, "--realtime", "+1000d").returncode == 0
    try:
        from timens.kernel import LIBTIMENS

        proc = subprocess.run(
            ["nsenter", f"--time=/run/timens/ns/{name}", "env", f"LD_PRELOAD={LIBTIMENS}",
             "setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "date", "+%s"],
            env=env, capture_output=True, text=True,
        )
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        assert abs(epoch(proc.stdout) - time.time() - 1000 * DAY) < 5
    finally:
        assert run("delete", name).returncode == 0


def test_a_page_planted_by_another_user_is_not_trusted(rundir):
    """/tmp/timens-UID may be made by anyone: the library trusts a looked-up
    page only if it and its directories belong to the user or root."""
    import pwd
    import shutil

    from timens.kernel import LIBTIMENS
    from timens.page import ClockPage

    env = {k: v for k, v in os.environ.items() if k not in ("TIMENS_RUNDIR", "XDG_RUNTIME_DIR")}
    name = f"test-planted-{os.getpid()}"
    nobody = pwd.getpwnam("nobody").pw_uid
    planted_dir = f"/tmp/timens-{nobody}"
    run = lambda *args: subprocess.run(timens_argv(*args), env=env, capture_output=True, text=True)  # noqa: E731
    assert run("create", name, "--realtime", "+1000d").returncode == 0
    shutil.rmtree(planted_dir, ignore_errors=True)
    try:
        inode = os.stat(f"/run/timens/ns/{name}").st_ino
        os.makedirs(f"{planted_dir}/pages")
        ClockPage.create(f"{planted_dir}/pages/{inode}", -7000 * DAY * NS).close()
        read = ["nsenter", f"--time=/run/timens/ns/{name}", "setpriv", "--reuid", "nobody", "--regid", "nogroup",
                "--clear-groups", "env", f"LD_PRELOAD={LIBTIMENS}", "date", "+%s"]
        for path in (planted_dir, f"{planted_dir}/pages", f"{planted_dir}/pages/{inode}"):
            os.chown(path, 12345, 12345)  # another user's
        got = epoch(subprocess.run(read, env=env, capture_output=True, text=True).stdout)
        assert abs(got - time.time() - 1000 * DAY) < 5, "the planted page was used"
        for path in (planted_dir, f"{planted_dir}/pages", f"{planted_dir}/pages/{inode}"):
            os.chown(path, nobody, -1)  # the user's own: trusted
        got = epoch(subprocess.run(read, env=env, capture_output=True, text=True).stdout)
        assert abs(got - time.time() + 7000 * DAY) < 5
    finally:
        shutil.rmtree(planted_dir, ignore_errors=True)
        assert run("delete", name).returncode == 0


@pytest.mark.parametrize("damage", [b"\0" * 100, b"\0" * 4096])
def test_set_replaces_a_page_that_is_no_page(timens, rundir, damage):
    """Truncated or overwritten: show says so, set writes a new page."""
    assert timens("create", "lab", "--realtime", "+1d").returncode == 0
    try:
        page = next((rundir / "pages").iterdir())
        page.unlink()
        page.write_bytes(damage)
        broken = timens("show", "lab")
        assert broken.returncode == 125 and "timens set" in broken.stderr
        assert timens("set", "lab", "--realtime", "+3d").returncode == 0
        assert abs(epoch(timens("exec", "lab", "--", "date", "+%s").stdout) - time.time() - 3 * DAY) < 5
    finally:
        timens("delete", "lab")
