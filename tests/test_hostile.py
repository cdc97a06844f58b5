"""What a hostile or careless user does: planted paths, odd files, host
processes, races, umasks, names and values at the edges.

Each test is the regression test of a defect found that way. The rule they
share: timens says one line and exits 125 (or the command's 126/127), leaves
nothing behind, and never reads, writes or waits on a path another user
chose.
"""
import json
import os
import pwd
import stat
import subprocess
import threading
import time

import pytest

import timens
from conftest import timens_argv

DAY = 86400


def one_line(proc, status=125):
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    assert proc.stderr.startswith("timens: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def pages(rundir):
    return [p.name for p in (rundir / "pages").iterdir()] if (rundir / "pages").exists() else []


@pytest.fixture
def sleeper(rundir):
    """Start `timens run OPTIONS -- sh -c SCRIPT` whose script prints its pid; yields that pid."""
    started = []

    def start(*options, script="echo $$; exec sleep 60", env=None):
        proc = subprocess.Popen(timens_argv("run", *options, "--", "sh", "-c", script), stdout=subprocess.PIPE,
                                text=True, start_new_session=True, env=env)
        started.append(proc)
        return int(proc.stdout.readline())

    yield start
    for proc in started:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait()


def epoch_in(timens, *target):
    proc = timens("exec", *target, "--", "date", "+%s")
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


# ---------------------------------------------------------------- 6: trust


def test_pid_takes_no_run_directory_from_an_untrusted_environment(timens, rundir, sleeper, tmp_path):
    """A process whose environment names a run directory others may write
    (here 0777, its pages a symlink to a victim directory): root's
    `set --pid` writes its page into root's own run directory, not there."""
    evil, victim = tmp_path / "evil", tmp_path / "victim"
    evil.mkdir()
    victim.mkdir()
    os.chmod(evil, 0o777)
    (evil / "pages").symlink_to(victim)
    pid = sleeper("--boottime", "+1d", script=f"echo $$; exec env TIMENS_RUNDIR={evil} sleep 60")
    assert timens("set", "--pid", pid, "--realtime", "+2d").returncode == 0
    assert list(victim.iterdir()) == [], "root wrote where the process's environment pointed"
    assert len(pages(rundir)) == 1
    proc = timens("show", "--pid", pid, "--json")
    assert proc.returncode == 0, proc.stderr
    assert abs(json.loads(proc.stdout)["offsets"]["realtime_ns"] / 1e9 - 2 * DAY) < 5


def test_a_fifo_where_a_page_goes_hangs_nothing(timens, rundir, sleeper):
    pid = sleeper("--boottime", "+1d")
    inode = os.stat(f"/proc/{pid}/ns/time").st_ino
    (rundir / "pages").mkdir(parents=True, exist_ok=True)
    os.mkfifo(rundir / "pages" / str(inode))
    for args in (("show", "--pid", pid), ("save", "--pid", pid), ("exec", "--pid", pid, "--", "true"), ("list",)):
        proc = timens(*args, timeout=30)  # a hang fails here
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stderr)


# ---------------------------------------------------------------- 7: host


def test_set_pid_refuses_the_host_namespace(timens, rundir):
    proc = timens("set", "--pid", os.getpid(), "--realtime", "+1d")
    one_line(proc)
    assert "host" in proc.stderr
    assert pages(rundir) == []
    assert abs(epoch_in(timens, "--pid", os.getpid()) - time.time()) < 5


# ---------------------------------------------------------------- 8, 9: page lifetime


def test_a_killed_run_leaves_a_page_that_the_next_command_sweeps(timens, rundir):
    proc = subprocess.Popen(timens_argv("run", "--realtime", "+1d", "--", "sh", "-c", "echo $$; exec sleep 60"),
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    child = int(proc.stdout.readline())
    proc.kill()
    proc.wait()
    assert len(pages(rundir)) == 1, "SIGKILL leaves the page (nothing can remove it then)"
    os.kill(child, 9)
    while os.path.exists(f"/proc/{child}"):
        time.sleep(0.01)
    assert timens("run", "--boottime", "+1h", "--", "true").returncode == 0
    assert pages(rundir) == [], "the page of a namespace that is gone is swept"


def test_list_shows_no_page_made_for_another_namespace(timens, rundir):
    """A page at a namespace's inode that was made for another namespace (the
    kernel reused the inode): list shows no REALTIME, and sweeps it."""
    assert timens("create", "old", "--realtime", "+300d").returncode == 0
    assert timens("create", "lab", "--boottime", "+1h").returncode == 0
    try:
        old = os.stat(rundir / "ns" / "old").st_ino
        lab = os.stat(rundir / "ns" / "lab").st_ino
        (rundir / "pages" / str(lab)).write_bytes((rundir / "pages" / str(old)).read_bytes())
        listed = json.loads(timens("list", "--json").stdout)["namespaces"]
        entry = next(n for n in listed if n["name"] == "lab")
        assert entry["offsets"]["realtime_ns"] is None
        assert str(lab) not in pages(rundir)
        assert abs(epoch_in(timens, "lab") - time.time()) < 5
    finally:
        timens("delete", "old", "lab")


def test_background_jobs_keep_realtime_after_run_exits(timens, rundir, tmp_path):
    out = tmp_path / "late"
    proc = timens("run", "--realtime", "+1d", "--", "sh", "-c", f"(sleep 1; date +%s > {out}) >/dev/null 2>&1 &")
    assert proc.returncode == 0, proc.stderr
    deadline = time.time() + 20
    while not (out.exists() and out.read_text()) and time.time() < deadline:
        time.sleep(0.05)
    assert abs(int(out.read_text()) - time.time() - DAY) < 5, "the job read host time: its page was removed"
    time.sleep(0.2)  # the job has exited
    assert timens("list").returncode == 0
    assert pages(rundir) == []


# ---------------------------------------------------------------- 10: modes


@pytest.fixture
def public_rundir(monkeypatch):
    """A run directory in a place every user may reach (pytest's tmp is 0700)."""
    import shutil
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="timens-modes-", dir="/tmp"))
    os.chmod(base, 0o755)
    monkeypatch.setenv("TIMENS_RUNDIR", str(base / "run"))
    yield base / "run"
    shutil.rmtree(base)


@pytest.mark.parametrize("umask", [0o077, 0o000])
def test_modes_do_not_depend_on_the_umask(timens, public_rundir, umask):
    rundir = public_rundir
    proc = timens("create", "lab", "--realtime", "+1d", preexec_fn=lambda: os.umask(umask))
    assert proc.returncode == 0, proc.stderr
    try:
        mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
        assert [mode(rundir), mode(rundir / "pages"), mode(rundir / "meta")] == [0o755] * 3
        assert mode(rundir / "meta" / "lab.json") == 0o644
        assert [mode(p) for p in (rundir / "pages").iterdir()] == [0o644]
        # A program that dropped root inside still reads the page.
        proc = timens("exec", "lab", "--", "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                      "date", "+%s")
        assert proc.returncode == 0, proc.stderr
        assert abs(int(proc.stdout) - time.time() - DAY) < 5
    finally:
        timens("delete", "lab")


# ---------------------------------------------------------------- 11: save -o


@pytest.fixture
def named(timens):
    assert timens("create", "lab", "--boottime", "+1d").returncode == 0
    yield "lab"
    timens("delete", "lab")


def test_save_to_a_device_writes_it_and_leaves_it_a_device(timens, named, tmp_path):
    """Private copies of /dev/full and /dev/null: a timens that replaces
    what it writes to must not break this machine's own."""
    full, null = tmp_path / "full", tmp_path / "null"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    proc = timens("save", named, "-o", full)
    one_line(proc)
    assert "No space left on device" in proc.stderr
    assert stat.S_ISCHR(os.stat(full).st_mode)
    assert timens("save", named, "-o", null).returncode == 0
    assert stat.S_ISCHR(os.stat(null).st_mode)


def test_save_through_a_symlink_and_into_a_fifo(timens, named, tmp_path):
    target = tmp_path / "target.json"
    (tmp_path / "link").symlink_to(target)
    assert timens("save", named, "-o", tmp_path / "link").returncode == 0
    assert (tmp_path / "link").is_symlink() and json.loads(target.read_text())["schema"] == "timens.snapshot"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    assert timens("save", named, "-o", fifo).returncode == 0
    reader.join(20)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and json.loads(got[0])["schema"] == "timens.snapshot"


def test_save_keeps_an_existing_files_owner_and_mode(timens, named, tmp_path):
    nobody = pwd.getpwnam("nobody")
    path = tmp_path / "theirs.json"
    path.write_text("old\n")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    os.chmod(path, 0o600)
    assert timens("save", named, "-o", path).returncode == 0
    info = os.stat(path)
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (nobody.pw_uid, nobody.pw_gid, 0o600)
    assert json.loads(path.read_text())["schema"] == "timens.snapshot"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "run") == ["theirs.json"], "no temporary left"


# ---------------------------------------------------------------- 12: exec errors


def test_a_command_that_cannot_be_run_is_126_in_one_line(timens, rundir):
    proc = timens("run", "--", "/etc/passwd")
    assert proc.returncode == 126 and proc.stderr == "timens: /etc/passwd: Permission denied\n"
    proc = timens("run", "--boottime", "+1d", "--", "/no/such/command")
    assert proc.returncode == 127 and proc.stderr.count("\n") == 1
    assert pages(rundir) == []


def test_a_missing_proc_file_is_an_error_of_timens_not_the_command(timens, tmp_path):
    proc = timens("run", "--boottime", "+1d", "--", "true", env={**os.environ, "TIMENS_PROCFS": str(tmp_path)})
    one_line(proc)


# ---------------------------------------------------------------- 14: tracebacks


@pytest.mark.parametrize("value", ["+" + "9" * 5000 + "s", "=" + "1" * 4400, "@0001-01-01", "@9999-12-31T23:59:59",
                                   "@-" + "9" * 4400])
@pytest.mark.parametrize("zone", ["UTC", "America/Anchorage", "Pacific/Kiritimati", "UTC-25", "UTC+25"])
def test_values_at_the_edges_are_one_line(timens, rundir, value, zone):
    clock = "--boottime" if value.startswith("=") else "--realtime"
    proc = timens("run", clock, value, "--", "true", env={**os.environ, "TZ": zone})
    one_line(proc)
    assert pages(rundir) == []


def test_restore_from_a_closed_stdin(timens, rundir):
    proc = subprocess.run(["sh", "-c", " ".join(timens_argv("restore", "-", "--oci")) + " <&-"],
                          capture_output=True, text=True, timeout=60)
    one_line(proc)
    assert "standard input" in proc.stderr


@pytest.mark.parametrize("kind", ["directory", "symlink", "fifo"])
def test_odd_files_in_ns(timens, rundir, kind, tmp_path):
    (rundir / "ns").mkdir(parents=True)
    odd = rundir / "ns" / "odd"
    {"directory": lambda: odd.mkdir(), "symlink": lambda: odd.symlink_to("/proc/self/ns/time"),
     "fifo": lambda: os.mkfifo(odd)}[kind]()
    assert timens("list").returncode == 0
    for args in (("exec", "odd", "--", "true"), ("show", "odd"), ("set", "odd", "--realtime", "+1d"),
                 ("create", "odd"), ("delete", "odd")):
        proc = timens(*args, timeout=30)
        if proc.returncode != 0:
            one_line(proc)


def test_a_fifo_where_metadata_goes_hangs_nothing(timens, rundir, named):
    os.unlink(rundir / "meta" / f"{named}.json")
    os.mkfifo(rundir / "meta" / f"{named}.json")
    for args in (("show", named), ("list",), ("set", named, "--realtime", "+1h"), ("delete", named)):
        proc = timens(*args, timeout=30)  # a hang fails here
        assert proc.returncode == 0, (args, proc.stderr)


def test_a_file_named_meta(timens, rundir):
    rundir.mkdir()
    (rundir / "meta").write_text("in the way\n")
    proc = timens("create", "lab", "--boottime", "+1d")
    one_line(proc)
    assert tree(rundir) in (["meta", "ns"], ["meta"]), "nothing is left of the failed create"
    assert timens("list").returncode == 0


def _race(rundir, steps, rounds):
    """Run each of STEPS ROUNDS times, all at once in forked processes; the
    exceptions they raised, as 'TypeName: message' lines."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def worker(step):
        raised = []
        for i in range(rounds):
            try:
                step(i)
            except Exception as err:  # noqa: BLE001  (the test is about which ones)
                raised.append(f"{type(err).__name__}: {err}" if not isinstance(err, timens.TimensError) else "ok")
        queue.put(raised)

    procs = [ctx.Process(target=worker, args=(step,)) for step in steps]
    for p in procs:
        p.start()
    raised = [line for _ in procs for line in queue.get(timeout=300)]
    for p in procs:
        p.join()
    return [line for line in raised if line != "ok"]


def test_delete_racing_create(rundir):
    """Only TimensErrors (EBUSY, ENOENT on a vanishing file are the race's, not bugs)."""
    from timens.namespace import delete_named

    def create(i):
        timens.TimeNamespace.create("race", realtime="+1d").close()

    def delete(i):
        delete_named("race")

    assert _race(rundir, [create, delete, create, delete], 60) == []
    try:
        delete_named("race")
    except timens.NoSuchNamespace:
        pass
    proc = subprocess.run(timens_argv("list", "--json"), capture_output=True, text=True)
    assert proc.returncode == 0 and "race" not in [n["name"] for n in json.loads(proc.stdout)["namespaces"]]
    assert pages(rundir) == [] and not (rundir / "ns" / "race").exists()
    assert mounts_under(rundir) == []


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


@pytest.mark.parametrize("pid", [None, 1.5, True, "1e3", "", -1, [1]])
def test_the_api_refuses_a_bad_pid(rundir, pid):
    with pytest.raises(timens.BadValue):
        timens.TimeNamespace.from_pid(pid)


# ---------------------------------------------------------------- 15: races and names


def test_concurrent_sets_leave_page_and_metadata_agreeing(rundir, named):
    def setter(base):
        return lambda i: timens.TimeNamespace.open(named).set_realtime(f"+{base + i}h")

    for _ in range(3):
        assert _race(rundir, [setter(base) for base in (1000, 2000, 3000, 4000)], 40) == []
        meta = json.loads((rundir / "meta" / f"{named}.json").read_text())
        assert meta["realtime_ns"] == timens.TimeNamespace.open(named).offsets().realtime


@pytest.mark.parametrize("directory", ["a b", "back\\slash", "tab\there"])
def test_run_directories_with_odd_characters_are_listed(tmp_path, directory):
    env = {**os.environ, "TIMENS_RUNDIR": str(tmp_path / directory)}
    run = lambda *a: subprocess.run(timens_argv(*a), capture_output=True, text=True, env=env, timeout=60)  # noqa
    assert run("create", "lab", "--boottime", "+1d").returncode == 0
    try:
        listed = json.loads(run("list", "--json").stdout)["namespaces"]
        assert "lab" in [n["name"] for n in listed]
    finally:
        assert run("delete", "lab").returncode == 0
