"""Every binary: libtimens.so under musl and old glibc, the vDSO patch at
exec for static, musl and Go programs, and `timens inject` for running ones.

The programs are built here, once per session: tests/probes/reach_clock.c
with gcc -static, musl-gcc -static and musl-gcc (dynamic), the Go probe
tests/probes/reach_go with CGO_ENABLED=0 and with cgo; busybox-static is
Debian's. Each prints what it reads next to host REALTIME from the raw
syscall (which nothing shifts), so a test checks the difference.
"""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
from conftest import NATIVE, PROBES, timens_argv

from timens.page import LAYOUT, ClockPage

NSEC = 1_000_000_000
DAY = 86400 * NSEC
OFFSET = 3650 * DAY
SLACK = 5 * NSEC  # reads and host reads are a few microseconds apart; a wrong offset is days off
TRACER = NATIVE / "timens-tracer"
BUSYBOX = "/bin/busybox"

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="the vDSO patch is x86-64 only")

C_KINDS = ("glibc-static", "musl-static", "musl-dynamic")
GO_KINDS = ("go-static", "go-cgo")


@pytest.fixture(scope="session")
def programs(tmp_path_factory):
    """kind -> path of the built probe."""
    for tool in ("musl-gcc", "go", BUSYBOX):
        assert shutil.which(tool), f"{tool} is missing: make installs musl-tools, golang-go and busybox-static"
    out = tmp_path_factory.mktemp("reach")
    source = str(PROBES / "reach_clock.c")
    built = {}
    for kind, cc in (("glibc-static", ["gcc", "-static"]), ("musl-static", ["musl-gcc", "-static"]),
                     ("musl-dynamic", ["musl-gcc"])):
        built[kind] = out / kind
        subprocess.run([*cc, "-O1", "-Wall", "-Werror", "-I", str(PROBES), "-o", str(built[kind]), source,
                        "-lpthread"], check=True)
    env = {**os.environ, "GOCACHE": str(out / "gocache"), "GOPATH": str(out / "gopath"), "GOFLAGS": "",
           "GOPROXY": "off"}
    for kind, cgo in (("go-static", "0"), ("go-cgo", "1")):
        built[kind] = out / kind
        subprocess.run(["go", "build", "-o", str(built[kind]), "."], cwd=PROBES / "reach_go",
                       env={**env, "CGO_ENABLED": cgo}, check=True, capture_output=True)
    return built


def readings(text):
    """{name: (value, host)} from "name value host" lines (the last of each name)."""
    out = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and re.fullmatch(r"-?\d+", words[1]) and re.fullmatch(r"-?\d+", words[2]):
            out[words[0]] = (int(words[1]), int(words[2]))
    return out


def shift_of(name, value, host):
    """value - host in ns (time() gives seconds)."""
    return (value - host) * (NSEC if name == "time" else 1)


def assert_shifted(text, offset, names=None):
    got = readings(text)
    names = names or [n for n in got if n in ("clock_gettime", "gettimeofday", "time", "time.Now", "tick")]
    assert names, text
    for name in names:
        assert abs(shift_of(name, *got[name]) - offset) < SLACK, f"{name}: {got[name]} in {text!r}"


def run_in_namespace(*argv, realtime=OFFSET, env=None, **kwargs):
    kwargs.setdefault("timeout", 60)
    value = f"{'-' if realtime < 0 else '+'}{abs(realtime) // NSEC}s"
    return subprocess.run(timens_argv("run", f"--realtime={value}", "--", *map(str, argv)),
                          capture_output=True, text=True, env=env, **kwargs)


# --- 1. one libtimens.so for every userland -----------------------------------


def test_libtimens_needs_no_glibc_newer_than_2_17():
    """A library linked on Debian 12 would need GLIBC_2.34 (dlsym) and 2.33 (stat)."""
    dynsyms = subprocess.run(["objdump", "-T", str(NATIVE / "libtimens.so")], capture_output=True, text=True,
                             check=True).stdout
    versions = {tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", dynsyms)}
    assert versions, dynsyms
    assert max(versions) <= (2, 17), sorted(versions)
    assert not re.search(r"\bdlvsym\b", dynsyms), "dlvsym is glibc-only: look it up at run time"


def test_musl_dynamic_program_loads_libtimens(programs):
    """Without the vDSO patch, only libtimens.so can shift it: it must load under musl."""
    env = {**os.environ, "TIMENS_VDSO_PATCH": "0"}
    proc = run_in_namespace(programs["musl-dynamic"], "read", env=env)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert_shifted(proc.stdout, OFFSET)


@pytest.mark.parametrize("clock", ["realtime", "monotonic"])
def test_musl_condvar_deadline_follows_its_clock(programs, clock):
    """musl keeps a condvar's clock elsewhere than glibc: a REALTIME deadline
    is converted, a MONOTONIC one is not (else it would wait 10 years)."""
    proc = run_in_namespace(programs["musl-dynamic"], "condwait", clock, realtime=-OFFSET,
                            env={**os.environ, "TIMENS_VDSO_PATCH": "0"}, timeout=20)
    got = dict(line.split() for line in proc.stdout.splitlines())
    assert got["ret"] == "ETIMEDOUT", proc.stdout + proc.stderr
    assert 0.8 <= int(got["elapsed"]) / NSEC <= 5, proc.stdout


# --- 2. the vDSO patch at exec ------------------------------------------------


@pytest.mark.parametrize("kind", C_KINDS + GO_KINDS)
def test_program_started_in_namespace_reads_its_realtime(programs, kind):
    proc = run_in_namespace(programs[kind], "read")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert_shifted(proc.stdout, OFFSET)  # once: dynamic ones load libtimens.so too
    if kind in C_KINDS:
        got = readings(proc.stdout)
        assert {"clock_gettime", "gettimeofday", "time"} <= set(got)
        for name in ("monotonic", "boottime"):  # no advance in this page: the kernel's clocks
            assert abs(shift_of(name, *got[name])) < SLACK


def test_busybox_date(programs):
    proc = run_in_namespace(BUSYBOX, "date", "+%s")
    assert proc.returncode == 0, proc.stderr
    assert abs(int(proc.stdout) * NSEC - time.time_ns() - OFFSET) < SLACK


def test_exec_chain_from_a_static_shell(programs):
    script = f"{programs['glibc-static']} read; {programs['go-static']} read; {programs['musl-static']} read; " \
             f"{BUSYBOX} echo date $({BUSYBOX} date +%s) 0"
    proc = run_in_namespace(BUSYBOX, "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("clock_gettime") == 2 and "time.Now" in proc.stdout
    for block in re.split(r"(?=clock_gettime|time\.Now)", proc.stdout):
        if block.strip():
            assert_shifted(block, OFFSET, [n for n in ("clock_gettime", "gettimeofday", "time.Now") if n in block])
    date = int(proc.stdout.split("date ")[1].split()[0])
    assert abs(date * NSEC - time.time_ns() - OFFSET) < SLACK


def test_execs_from_a_threaded_go_program(programs):
    """Go starts commands with clone(CLONE_VFORK) from any of its threads."""
    script = f"{BUSYBOX} date +%s"
    proc = run_in_namespace(BUSYBOX, "sh", "-c", f"{programs['go-static']} exec {BUSYBOX} sh -c '{script}'")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert len(lines) == 4, proc.stdout  # four commands started at once
    for seconds in lines:
        assert abs(int(seconds) * NSEC - time.time_ns() - OFFSET) < SLACK, proc.stdout


def test_fork_without_exec(programs):
    proc = run_in_namespace(programs["glibc-static"], "fork")
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert set(lines) == {"child", "parent"}, proc.stdout
    for who in lines.values():
        assert_shifted(who, OFFSET)


def page_with(tmp_path, **fields):
    """A page with raw v2 fields set (frozen, advances), written before any reader maps it."""
    page = tmp_path / "page"
    ClockPage.create(page, fields.pop("realtime", 0)).close()
    with open(page, "r+b") as f:
        for name, value in fields.items():
            size = 4 if name == "FLAGS" else 8
            f.seek(LAYOUT[f"TIMENS_OFF_{name}"])
            f.write(value.to_bytes(size, "little", signed=True))
    return page


def test_injected_code_follows_freeze_and_advances(programs, tmp_path):
    """The page v2 fields: FROZEN pins REALTIME; MONOTONIC/BOOTTIME advances add."""
    frozen = 2_000_000_000
    page = page_with(tmp_path, FLAGS=LAYOUT["TIMENS_FLAG_FROZEN"], FROZEN_SEC=frozen, FROZEN_NSEC=5,
                     MONOTONIC_SEC=86400, BOOTTIME_SEC=2 * 86400)
    for kind in ("glibc-static", "musl-static"):
        proc = subprocess.run([TRACER, "run", page, "--", programs[kind], "read"], capture_output=True, text=True,
                              timeout=30)
        got = readings(proc.stdout)
        assert got["clock_gettime"][0] == frozen * NSEC + 5, proc.stdout
        assert got["time"][0] == frozen and got["gettimeofday"][0] == frozen * NSEC, proc.stdout
        assert abs(shift_of("monotonic", *got["monotonic"]) - DAY) < SLACK
        assert abs(shift_of("boottime", *got["boottime"]) - 2 * DAY) < SLACK
    go = subprocess.run([TRACER, "run", page, "--", programs["go-static"], "read"], capture_output=True, text=True,
                        timeout=30)
    assert readings(go.stdout)["time.Now"][0] == frozen * NSEC + 5, go.stdout


def test_switch_turns_the_patch_off(programs):
    proc = run_in_namespace(programs["glibc-static"], "read", env={**os.environ, "TIMENS_VDSO_PATCH": "0"})
    assert_shifted(proc.stdout, 0, ["clock_gettime"])
    traced = run_in_namespace("grep", "TracerPid", "/proc/self/status")
    untraced = run_in_namespace("grep", "TracerPid", "/proc/self/status",
                                env={**os.environ, "TIMENS_VDSO_PATCH": "0"})
    assert traced.stdout.split()[1] != "0" and untraced.stdout.split()[1] == "0"
    flag = subprocess.run(timens_argv("run", "--realtime", "+1d", "--no-vdso-patch", "--", "grep", "TracerPid",
                                      "/proc/self/status"), capture_output=True, text=True, timeout=60)
    assert flag.stdout.split()[1] == "0", flag.stderr


def test_help_states_the_cost():
    text = subprocess.run(timens_argv("--help"), capture_output=True, text=True).stdout
    assert "TIMENS_VDSO_PATCH=0" in text and "strace" in text and "CRIU" in text
    for command in ("run", "exec"):
        assert "--no-vdso-patch" in subprocess.run(timens_argv(command, "--help"), capture_output=True,
                                                   text=True).stdout


def test_traced_command_exits_and_dies_as_itself(programs):
    assert run_in_namespace(BUSYBOX, "sh", "-c", "exit 7").returncode == 7
    assert run_in_namespace(BUSYBOX, "sh", "-c", "kill -TERM $$").returncode == -signal.SIGTERM
    missing = run_in_namespace("/nonexistent/program")
    assert missing.returncode in (125, 127) and missing.stderr.count("\n") == 1


def test_stop_and_continue_from_a_terminal(programs, rundir):
    """^Z then fg in an interactive shell: the traced command stops and goes on."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
    seen = ""

    def read_until(text, seconds=30):
        nonlocal seen
        end = time.monotonic() + seconds
        while text not in seen and time.monotonic() < end:
            if select.select([fd], [], [], 0.1)[0]:
                seen += os.read(fd, 4096).decode(errors="replace")
        return text in seen

    try:
        command = " ".join(timens_argv("run", "--realtime", "+1d", "--", BUSYBOX, "sh", "-c",
                                       "'echo START\"\"ED; busybox sleep 1; echo FINISH\"\"ED'"))
        os.write(fd, f"export TIMENS_RUNDIR={rundir}; {command}\n".encode())
        assert read_until("STARTED"), seen  # the terminal echoes START""ED
        os.write(fd, b"\x1a")
        assert read_until("Stopped"), seen
        os.write(fd, b"fg\n")
        assert read_until("FINISHED"), seen
    finally:
        os.write(fd, b"exit\n")
        os.waitpid(pid, 0)
        os.close(fd)


def test_under_strace_the_command_runs_unpatched_and_says_so(programs, rundir):
    """A process has one tracer: with strace first, timens-tracer steps aside."""
    proc = subprocess.run(["strace", "-f", "-o", "/dev/null", *timens_argv("run", "--realtime", "+1d", "--",
                                                                             BUSYBOX, "date", "+%s")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("\n") == 1 and "cannot trace the command" in proc.stderr
    assert abs(int(proc.stdout) * NSEC - time.time_ns()) < SLACK  # host REALTIME, as the line says


@pytest.fixture
def lab(rundir, timens):
    assert timens("create", "lab", "--realtime", "+1d").returncode == 0
    yield "lab"
    timens("delete", "lab")


def ask(proc):
    """One watch round: the lines up to "end"."""
    proc.stdin.write("\n")
    proc.stdin.flush()
    lines = []
    while (line := proc.stdout.readline()) not in ("end\n", ""):
        lines.append(line)
    return "".join(lines)


@pytest.mark.parametrize("kind", ["glibc-static", "go-static"])
def test_live_set_seen_by_a_patched_program(programs, lab, timens, kind):
    watcher = subprocess.Popen(timens_argv("exec", lab, "--", programs[kind], "watch"), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout.readline() == "ready\n"
        assert_shifted(ask(watcher), DAY)
        assert timens("set", lab, "--realtime", "+2d").returncode == 0
        assert_shifted(ask(watcher), 2 * DAY)
    finally:
        watcher.stdin.close()
        assert watcher.wait(timeout=20) == 0


# --- 3. inject into running processes ------------------------------------------


def tracer_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("TracerPid")).split()[1])


def start_blocking(argv):
    proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    before = proc.stdout.readline()  # one wait done: the next is under way
    assert_shifted(before, 0)
    return proc


def finish(proc):
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and err == "" and "error" not in out, (out, err)
    assert out.endswith("done\n")
    return [line for line in out.splitlines() if line.startswith("tick")]


@pytest.mark.parametrize("kind,wait", [("glibc-static", "nanosleep"), ("glibc-static", "futex"),
                                       ("glibc-static", "epoll"), ("musl-static", "futex"), ("go-static", None),
                                       ("go-cgo", None)])
def test_inject_into_a_sleeping_program(programs, lab, timens, kind, wait):
    """It keeps running, its waits end as they should, it reads lab's
    REALTIME from then on, follows a live set, and nothing stays attached."""
    proc = start_blocking([programs[kind], "block", *([wait] if wait else []), "6"])
    injected = timens("inject", lab, "--pid", proc.pid)
    assert injected.returncode == 0 and injected.stderr == "", injected.stderr
    assert tracer_of(proc.pid) == 0
    assert_shifted(proc.stdout.readline(), DAY)
    assert timens("set", lab, "--realtime", "+3d").returncode == 0
    ticks = finish(proc)
    assert_shifted(ticks[-1], 3 * DAY)


def test_inject_every_clock_and_kernel_offsets(programs, rundir, timens):
    """MONOTONIC and BOOTTIME follow lab's kernel offsets relative to the
    process's own namespace; gettimeofday and time follow REALTIME."""
    assert timens("create", "far", "--monotonic", "+1d", "--boottime", "+2d", "--realtime", "+3d").returncode == 0
    watcher = subprocess.Popen([programs["musl-static"], "watch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        assert watcher.stdout.readline() == "ready\n"
        assert_shifted(ask(watcher), 0)
        assert timens("inject", "far", "--pid", watcher.pid).returncode == 0
        got = readings(ask(watcher))
        for name, want in (("clock_gettime", 3 * DAY), ("gettimeofday", 3 * DAY), ("time", 3 * DAY),
                           ("monotonic", DAY), ("boottime", 2 * DAY)):
            assert abs(shift_of(name, *got[name]) - want) < SLACK, (name, got)
        assert timens("set", "far", "--realtime", "+5d").returncode == 0  # reaches its own page too
        got = readings(ask(watcher))
        assert abs(shift_of("clock_gettime", *got["clock_gettime"]) - 5 * DAY) < SLACK, got
        assert abs(shift_of("monotonic", *got["monotonic"]) - DAY) < SLACK, got
        again = timens("inject", "far", "--pid", watcher.pid)
        assert again.returncode == 125 and "injected already" in again.stderr
    finally:
        watcher.stdin.close()
        assert watcher.wait(timeout=20) == 0
    assert timens("delete", "far").returncode == 0
    assert list((rundir / "pages").iterdir()) == []


def test_inject_into_a_namespace_without_realtime_then_set(programs, rundir, timens):
    """NAME gets a page at offset 0, so a later set reaches the injected process."""
    assert timens("create", "plain").returncode == 0
    watcher = subprocess.Popen([programs["glibc-static"], "watch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        assert watcher.stdout.readline() == "ready\n"
        injected = timens("inject", "plain", "--pid", watcher.pid)
        assert injected.returncode == 0, injected.stderr
        assert_shifted(ask(watcher), 0)
        assert timens("set", "plain", "--realtime", "-2d").returncode == 0
        assert_shifted(ask(watcher), -2 * DAY)
    finally:
        watcher.stdin.close()
        assert watcher.wait(timeout=20) == 0
    assert timens("delete", "plain").returncode == 0


@pytest.mark.parametrize("named", [True, False])
def test_inject_into_another_mount_namespace(programs, lab, timens, rundir, tmp_path, named):
    """As in a container: the page is not at its host path there, but where
    TIMENS_PAGE says (timens-runtime mounts it so); without that, refused."""
    page, = (rundir / "pages").iterdir()
    inside = tmp_path / "mounted-page"
    inside.touch()
    script = f"mount --bind {page} {inside} && mount -t tmpfs none {rundir} && exec {programs['go-static']} watch"
    env = {**os.environ, **({"TIMENS_PAGE": str(inside)} if named else {})}
    watcher = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout.readline() == "ready\n"
        injected = timens("inject", lab, "--pid", watcher.pid)
        if named:
            assert injected.returncode == 0, injected.stderr
            assert_shifted(ask(watcher), DAY)
            assert timens("set", lab, "--realtime", "+2d").returncode == 0
            assert_shifted(ask(watcher), 2 * DAY)
        else:
            assert injected.returncode == 125 and "another mount namespace" in injected.stderr, injected.stderr
            assert_shifted(ask(watcher), 0)
            assert tracer_of(watcher.pid) == 0
    finally:
        watcher.stdin.close()
        assert watcher.wait(timeout=20) == 0


def refused(timens, lab, pid, *prefix):
    proc = subprocess.run([*prefix, *timens_argv("inject", lab, "--pid", pid)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 125, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    return proc.stderr


def test_inject_refuses_a_traced_process_and_leaves_it_alone(programs, lab, timens, tmp_path):
    page = page_with(tmp_path, realtime=0)
    proc = start_blocking([TRACER, "run", page, "--", programs["glibc-static"], "block", "futex", "4"])
    child = int(subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()[0])
    assert "traced already" in refused(timens, lab, child)
    assert all(abs(shift_of("tick", *readings(t)["tick"])) < SLACK for t in finish(proc))


def test_inject_refuses_a_process_with_libtimens(programs, lab, timens):
    """Its REALTIME offset comes from libtimens.so already: a second one would add up."""
    proc = subprocess.Popen(timens_argv("run", "--realtime", "+2d", "--", programs["musl-dynamic"], "block", "futex",
                                        "4"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TIMENS_VDSO_PATCH": "0"})
    assert proc.stdout.readline() == "ready\n"
    child = int(subprocess.run(["pgrep", "-f", f"{programs['musl-dynamic']} block"], capture_output=True,
                               text=True).stdout.split()[-1])
    assert "libtimens" in refused(timens, lab, child)
    assert all(abs(shift_of("tick", *readings(t)["tick"]) - 2 * DAY) < SLACK for t in finish(proc))


def test_inject_refuses_a_32_bit_program(lab, timens, tmp_path):
    source = tmp_path / "sleeper.s"
    source.write_text(".globl _start\n_start:\n\tmovl $162, %eax\n\tmovl $ts, %ebx\n\txorl %ecx, %ecx\n"
                      "\tint $0x80\n\tjmp _start\n\t.data\nts:\t.long 1, 0\n")
    subprocess.run(["as", "--32", "-o", tmp_path / "sleeper.o", source], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-o", tmp_path / "sleeper", tmp_path / "sleeper.o"], check=True)
    sleeper = subprocess.Popen([tmp_path / "sleeper"])
    try:
        time.sleep(0.2)
        assert "32-bit" in refused(timens, lab, sleeper.pid)
        assert sleeper.poll() is None and tracer_of(sleeper.pid) == 0
    finally:
        sleeper.kill()
        sleeper.wait()


def test_inject_and_seccomp(programs, lab, timens):
    """The probe's filter kills it on openat, which inject has it make: only a
    tracer that may suspend the filter (CAP_SYS_ADMIN) goes ahead."""
    proc = start_blocking([programs["glibc-static"], "seccomp", "futex", "4"])
    assert "seccomp" in refused(timens, lab, proc.pid, "setpriv", "--inh-caps=-sys_admin",
                                "--bounding-set=-sys_admin")
    assert all(abs(shift_of("tick", *readings(t)["tick"])) < SLACK for t in finish(proc))
    proc = start_blocking([programs["glibc-static"], "seccomp", "futex", "4"])
    assert timens("inject", lab, "--pid", proc.pid).returncode == 0
    assert_shifted(finish(proc)[-1], DAY)


def test_inject_bad_input(lab, timens):
    for args, words in ((["lab", "--pid", "999999999"], "no process"), (["nosuch", "--pid", os.getpid()], "nosuch"),
                        (["lab", "--pid", "x"], "pid")):
        proc = timens("inject", *map(str, args))
        assert proc.returncode == 125 and words in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
