"""The Python API: TimeNamespace objects and subprocess-shaped run/Popen."""
import subprocess
import sys
import threading
import time

import pytest

import timens

DAY = 86400
NS = 10**9


def uptime_of(out):
    return float(out.split()[0])


def host_uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def test_run_makes_a_new_namespace_per_call(rundir):
    proc = timens.run(["cat", "/proc/uptime"], boottime="+2d", capture_output=True, text=True)
    assert proc.returncode == 0
    assert abs(uptime_of(proc.stdout) - host_uptime() - 2 * DAY) < 2
    plain = timens.run(["cat", "/proc/uptime"], capture_output=True, text=True)
    assert abs(uptime_of(plain.stdout) - host_uptime()) < 2


def test_run_check_timeout_and_input(rundir):
    with pytest.raises(subprocess.CalledProcessError) as err:
        timens.run(["sh", "-c", "exit 3"], monotonic="+1h", check=True)
    assert err.value.returncode == 3
    with pytest.raises(subprocess.TimeoutExpired):
        timens.run(["sleep", "10"], timeout=0.3)
    proc = timens.run(["cat"], input=b"abc", capture_output=True)
    assert proc.stdout == b"abc"
    proc = timens.run("echo $((1+2))", shell=True, capture_output=True, text=True)
    assert proc.stdout == "3\n"


def test_conflicting_options_raise_valueerror(rundir):
    with timens.TimeNamespace.create(boottime="+1d") as ns:
        with pytest.raises(ValueError):
            timens.Popen(["true"], namespace=ns, boottime="+2d")
    with pytest.raises(ValueError):
        timens.Popen(["true"], preexec_fn=lambda: None)
    with pytest.raises(ValueError):
        timens.run(["true"], capture_output=True, stdout=subprocess.PIPE)


def test_bad_values_raise_typed_errors(rundir):
    with pytest.raises(timens.BadValue):
        timens.TimeNamespace.create(boottime="soon")
    with pytest.raises(timens.OutOfRange):
        timens.TimeNamespace.create(monotonic="-100000d")
    with pytest.raises(timens.NoSuchNamespace):
        timens.TimeNamespace.open("missing")
    with pytest.raises(timens.NoSuchNamespace):
        timens.TimeNamespace.from_pid(2**22 + 12345)
    assert isinstance(timens.BadValue("x"), ValueError)


def test_anonymous_namespace_is_shared_by_its_children(rundir):
    with timens.TimeNamespace.create(monotonic=5 * 3600, boottime="=100d") as ns:
        a = ns.run(["readlink", "/proc/self/ns/time"], capture_output=True, text=True).stdout
        b = ns.run(["readlink", "/proc/self/ns/time"], capture_output=True, text=True).stdout
        assert a == b == f"time:[{ns.inode}]\n"
        offsets = ns.offsets()
        assert offsets.monotonic == 5 * 3600 * NS
        assert offsets.realtime is None
        boot = ns.run(["cat", "/proc/uptime"], capture_output=True, text=True).stdout
        assert abs(uptime_of(boot) - 100 * DAY) < 2


def test_popen_from_a_threaded_program(rundir):
    """No preexec_fn: entering works while other threads run."""
    stop = threading.Event()
    workers = [threading.Thread(target=stop.wait) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        procs = [timens.Popen(["cat", "/proc/uptime"], boottime="+3d", stdout=subprocess.PIPE, text=True)
                 for _ in range(4)]
        for p in procs:
            out, _ = p.communicate(timeout=30)
            assert abs(uptime_of(out) - host_uptime() - 3 * DAY) < 2
    finally:
        stop.set()
        for w in workers:
            w.join()


def test_named_namespace_api(rundir):
    ns = timens.TimeNamespace.create("lab", boottime="+365d", realtime="+10y")
    try:
        assert ns.name == "lab"
        again = timens.TimeNamespace.open("lab")
        assert again.inode == ns.inode
        assert again.offsets().boottime == 365 * DAY * NS
        ten_years = 10 * 36525 * 864 * NS
        assert again.realtime_offset() == ten_years
        out = again.run(["date", "+%s"], capture_output=True, text=True).stdout
        assert abs(int(out) - time.time() - ten_years / NS) < 5
        again.set_realtime("@2030-01-01T00:00:00Z")
        out = again.run(["date", "-u", "+%Y-%m-%d"], capture_output=True, text=True).stdout
        assert out == "2030-01-01\n"
        names = [n.name for n in timens.list_namespaces()]
        assert "lab" in names
        with pytest.raises(timens.NamespaceExists):
            timens.TimeNamespace.create("lab")
        again.close()
    finally:
        ns.delete()
    assert not (rundir / "ns" / "lab").exists()
    assert not list((rundir / "pages").iterdir())


def test_from_pid_and_clocks(rundir):
    with timens.TimeNamespace.create(boottime="+9d") as ns:
        proc = ns.popen(["sleep", "30"])
        try:
            time.sleep(0.2)
            other = timens.TimeNamespace.from_pid(proc.pid)
            assert other.inode == ns.inode
            assert other.offsets().boottime == 9 * DAY * NS
            clocks = other.clocks()
            assert abs(clocks["boottime"] - time.clock_gettime_ns(time.CLOCK_BOOTTIME) - 9 * DAY * NS) < NS
            assert clocks["spread_ns"] < 10**8
            other.close()
        finally:
            proc.kill()
            proc.wait()


def test_works_with_standard_input_closed(rundir):
    """With fd 0 closed, a namespace fd may land on 0: a child's stdin must not clobber it."""
    code = (
        "import os, timens; os.close(0); "
        "p = timens.run(['cat'], input=b'kept', boottime='+1d', capture_output=True); "
        "print(p.returncode, p.stdout.decode())"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout == "0 kept\n", proc.stderr


def test_values_like_python_and_errors_like_subprocess(rundir):
    from datetime import timedelta

    for value in (86400, 86400.0, timedelta(days=1), "+1d"):
        out = timens.run(["cat", "/proc/uptime"], boottime=value, capture_output=True, text=True).stdout
        assert abs(uptime_of(out) - host_uptime() - DAY) < 2, value
    with pytest.raises(timens.BadValue):
        timens.run(["true"], boottime=True)
    with pytest.raises(FileNotFoundError):
        timens.run(["no-such-program-here"], boottime="+1d")
    with pytest.raises(ValueError):
        timens.run(["true"], user="nobody")
    ns = timens.TimeNamespace.create(boottime="+1d")
    ns.close()
    with pytest.raises(timens.TimensError, match="closed"):
        ns.run(["true"])
    assert not list((rundir / "pages").glob("*")) if (rundir / "pages").exists() else True


def test_shell_and_permission_errors_like_subprocess(rundir, tmp_path):
    out = timens.run(["echo $0 $1", "a", "b"], shell=True, capture_output=True, text=True).stdout
    assert out == subprocess.run(["echo $0 $1", "a", "b"], shell=True, capture_output=True, text=True).stdout
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError):
        timens.run([str(script)])
    ns = timens.TimeNamespace.create(realtime="+1d")
    ns.close()
    with pytest.raises(timens.TimensError, match="closed"):
        ns.set_realtime("+1h")
    assert not any((rundir / "pages").iterdir())
