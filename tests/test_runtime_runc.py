"""timens-runtime driven as an engine drives runc: a bundle, a root, and
runc's commands one by one (create, start, exec, state, delete)."""
import json
import os
import signal
import subprocess
import uuid

import pytest

from containers import rootfs
from containers.checks import DAY, YEAR_2038, eventually, host_uptime, leftovers, listed_names, uptime_of
from containers.engines import RUNTIME, run, unmount_under


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    root, _ = rootfs.build(tmp_path_factory.mktemp("image"))
    return root


@pytest.fixture
def env(rundir):
    return {**os.environ, "TIMENS_RUNDIR": str(rundir)}


@pytest.fixture
def runc_root(tmp_path, rundir):
    root = tmp_path / "runc-root"
    yield root
    for cid in os.listdir(root) if root.exists() else []:
        subprocess.run([RUNTIME, "--root", root, "kill", cid, "KILL"], env={**os.environ, "TIMENS_RUNDIR": str(rundir)},
                       capture_output=True)
        subprocess.run([RUNTIME, "--root", root, "delete", "-f", cid], env={**os.environ, "TIMENS_RUNDIR": str(rundir)},
                       capture_output=True)
    unmount_under(rundir)


@pytest.fixture
def bundle(tmp_path, image_root):
    """A bundle whose config runs ARGS with extra ENV/annotations; returns its path."""

    def make(args, env=(), annotations=None, edit=None):
        path = tmp_path / f"bundle-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        subprocess.run(["runc", "spec", "--rootless"], cwd=path, check=True)  # no terminal, fewer caps
        spec = json.loads((path / "config.json").read_text())
        spec["root"] = {"path": str(image_root), "readonly": True}
        spec["process"]["terminal"] = False
        spec["process"]["args"] = list(args)
        spec["process"]["env"] += list(env)
        spec["annotations"] = annotations or {}
        spec["linux"].pop("uidMappings", None)
        spec["linux"].pop("gidMappings", None)
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "user"]
        spec["mounts"] = [m for m in spec["mounts"] if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
        if edit:
            edit(spec)
        (path / "config.json").write_text(json.dumps(spec))
        return path

    return make


def runtime(env, *args):
    """Run timens-runtime; a container it leaves running gets its stdio, so
    output goes through files, not pipes that would stay open."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run([RUNTIME, *map(str, args)], env=env, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=err, text=True, timeout=60)
        out.seek(0)
        err.seek(0)
        proc.stdout, proc.stderr = out.read(), err.read()
    return proc


def test_time_offsets_work_on_a_runc_that_refuses_them(bundle, runc_root, env, rundir):
    def ask_spec_way(spec):
        spec["linux"]["namespaces"].append({"type": "time"})
        spec["linux"]["timeOffsets"] = {"boottime": {"secs": 400 * DAY, "nanosecs": 0}}

    path = bundle(["cat", "/proc/uptime"], edit=ask_spec_way)
    refused = run(["runc", "--root", runc_root, "run", "--bundle", path, "plain"], env=env)
    assert refused.returncode != 0 and "time" in refused.stderr  # Debian's runc 1.1 has no time namespace
    run(["runc", "--root", runc_root, "delete", "-f", "plain"])

    before = host_uptime()
    out = runtime(env, "--root", runc_root, "run", "--bundle", path, "offsets")
    assert out.returncode == 0, out.stderr
    # /proc/uptime has hundredths: allow one either side
    assert before + 400 * DAY - 0.01 <= uptime_of(out.stdout) <= host_uptime() + 400 * DAY + 0.01


def test_create_start_exec_delete(bundle, runc_root, env, rundir):
    path = bundle(["sleep", "300"], env=[f"TIMENS_REALTIME={YEAR_2038}"], annotations={"io.timens.boottime": "=20d"})
    cid = "lifecycle"
    for step in (["create", "--bundle", path, cid], ["start", cid]):
        out = runtime(env, "--root", runc_root, *step)
        assert out.returncode == 0, out.stderr
    state = json.loads(runtime(env, "--root", runc_root, "state", cid).stdout)
    assert state["status"] == "running"  # runc sees its own process alive (start times agree inside)
    assert cid in listed_names(rundir)

    out = runtime(env, "--root", runc_root, "exec", cid, "/bin/sh", "-c", f"cat /proc/uptime; {rootfs.GLIBC_DATE} -u +%Y")
    assert out.returncode == 0, out.stderr
    uptime, year = out.stdout.split("\n")[:2]
    assert 20 * DAY <= uptime_of(uptime) < 20 * DAY + 60 and year == "2038"

    assert runtime(env, "--root", runc_root, "kill", cid, "KILL").returncode == 0
    assert eventually(lambda: json.loads(runtime(env, "--root", runc_root, "state", cid).stdout)["status"] == "stopped")
    assert runtime(env, "--root", runc_root, "delete", cid).returncode == 0
    assert leftovers(rundir) == []


def test_static_programs_read_realtime_through_the_vdso_patch(bundle, runc_root, env, rundir):
    """busybox is static: only the vDSO patch reaches it, in the container's
    own process (run) and in an exec'd one; the glibc date reads the same."""
    show = f"busybox date -u +%Y; {rootfs.GLIBC_DATE} -u +%Y"
    path = bundle(["/bin/sh", "-c", f"{show}; exec sleep 300"], env=[f"TIMENS_REALTIME={YEAR_2038}"])
    cid = "static"
    assert runtime(env, "--root", runc_root, "create", "--bundle", path, cid).returncode == 0
    assert runtime(env, "--root", runc_root, "start", cid).returncode == 0
    out = runtime(env, "--root", runc_root, "exec", cid, "/bin/sh", "-c", show)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2038", "2038"], out.stdout
    plain = runtime({**env, "TIMENS_VDSO_PATCH": "0"}, "--root", runc_root, "run", "--bundle",
                    bundle(["/bin/sh", "-c", show], env=[f"TIMENS_REALTIME={YEAR_2038}"]), "unpatched")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.split()[1] == "2038" and plain.stdout.split()[0] != "2038", plain.stdout
    first = runtime(env, "--root", runc_root, "run", "--bundle",
                    bundle(["/bin/sh", "-c", show], env=[f"TIMENS_REALTIME={YEAR_2038}"]), "patched")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["2038", "2038"], first.stdout
    assert runtime(env, "--root", runc_root, "kill", cid, "KILL").returncode == 0
    assert eventually(lambda: json.loads(runtime(env, "--root", runc_root, "state", cid).stdout)["status"] == "stopped")
    assert runtime(env, "--root", runc_root, "delete", cid).returncode == 0


BAD_VALUES = [
    ({"io.timens.monotonic": "+2 days"}, "annotation io.timens.monotonic: malformed monotonic value '+2 days'"),
    ({"io.timens.boottime": "=200y"}, "boottime =200y is out of range"),
    ({"io.timens.realtime": "@3000-01-01"}, "realtime @3000-01-01 is out of range"),
]


@pytest.mark.parametrize("annotations,message", BAD_VALUES, ids=[m.split(":")[0] for _, m in BAD_VALUES])
def test_a_bad_value_leaves_the_bundle_and_run_directory_as_they_were(
    bundle, runc_root, env, rundir, tmp_path, annotations, message
):
    path = bundle(["true"], annotations=annotations)
    before = (path / "config.json").read_bytes()
    log = tmp_path / "log.json"
    out = runtime(env, "--root", runc_root, "--log", log, "--log-format", "json", "create", "--bundle", path, "bad")
    assert out.returncode == 125
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("timens-runtime: "), out.stderr
    assert message in out.stderr, out.stderr
    assert json.loads(log.read_text().splitlines()[-1])["msg"] == out.stderr.strip()  # what containerd shows
    assert (path / "config.json").read_bytes() == before
    assert leftovers(rundir) == [] and not (runc_root / "bad").exists()


def test_a_failed_create_leaves_nothing(bundle, runc_root, env, rundir):
    path = bundle(["/no/such/program"], env=[f"TIMENS_REALTIME={YEAR_2038}"])
    before = (path / "config.json").read_bytes()
    out = runtime(env, "--root", runc_root, "create", "--bundle", path, "failing")
    assert out.returncode != 0
    assert (path / "config.json").read_bytes() == before
    assert leftovers(rundir) == []


def killed(env, runc_root, cid):
    pid = json.loads(runtime(env, "--root", runc_root, "state", cid).stdout)["pid"]
    os.kill(pid, signal.SIGKILL)
    return eventually(lambda: json.loads(runtime(env, "--root", runc_root, "state", cid).stdout)["status"] == "stopped")


def test_a_container_lost_by_its_engine_is_reconciled_on_the_next_create(bundle, runc_root, env, rundir):
    """An engine that crashed never calls delete: the runtime's state stays,
    stopped. The next create removes the namespace."""
    lost = bundle(["sleep", "300"], env=["TIMENS_BOOTTIME=+1d"])
    assert runtime(env, "--root", runc_root, "run", "-d", "--bundle", lost, "lost").returncode == 0
    assert killed(env, runc_root, "lost")
    assert "lost" in listed_names(rundir)
    nothing = bundle(["true"])
    assert runtime(env, "--root", runc_root, "create", "--bundle", nothing, "next").returncode == 0
    assert "lost" not in listed_names(rundir)
    assert leftovers(rundir) == []


def test_a_container_deleted_behind_our_back_is_reconciled_on_any_call(bundle, runc_root, env, rundir):
    path = bundle(["sleep", "300"], env=["TIMENS_BOOTTIME=+1d"])
    assert runtime(env, "--root", runc_root, "run", "-d", "--bundle", path, "gone").returncode == 0
    assert killed(env, runc_root, "gone")
    assert run(["runc", "--root", runc_root, "delete", "gone"]).returncode == 0  # not through timens-runtime
    assert "gone" in listed_names(rundir)
    runtime(env, "--root", runc_root, "state", "some-other-container")
    assert leftovers(rundir) == []


def test_no_clocks_means_no_namespace(bundle, runc_root, env, rundir):
    out = runtime(env, "--root", runc_root, "run", "--bundle", bundle(["readlink", "/proc/self/ns/time"]), "plain")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == os.readlink("/proc/self/ns/time")
    assert leftovers(rundir) == []


def test_arguments_reach_the_named_runtime_untouched(tmp_path, env):
    record = tmp_path / "argv"
    fake = tmp_path / "fake-runtime"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    fake.chmod(0o755)
    argv = ["--root", "/r", "--log=/l", "--log-format", "json", "--systemd-cgroup", "kill", "--all", "c1", "TERM"]
    assert runtime(env, "--timens-runtime", fake, *argv).returncode == 0
    assert record.read_text().splitlines() == argv
    record.unlink()
    assert runtime({**env, "TIMENS_RUNTIME": str(fake)}, "state", "c2").returncode == 0
    assert record.read_text().splitlines() == ["state", "c2"]


def test_a_missing_runtime_is_one_line(env):
    out = runtime({**env, "TIMENS_RUNTIME": "/no/such/runc"}, "state", "c1")
    assert out.returncode == 125
    assert out.stderr == "timens-runtime: the OCI runtime '/no/such/runc' (TIMENS_RUNTIME) is not an executable file\n"
