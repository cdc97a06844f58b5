"""The kernel's timens selftests, redone for namespaces that timens makes.

Each kernel selftest (tools/testing/selftests/timens/) makes its own
namespace with unshare and checks what processes read inside. Here timens
makes the namespace (`timens run`, `timens create` + `timens exec`), a C
probe from tests/probes/kt_*.c runs inside and prints what it reads or
checks, and the test compares with the host clocks it reads around the run.

Linux only, needs root (or a user namespace) and CLONE_NEWTIME.
"""
import contextlib
import os
import re
import subprocess
import time

import pytest

from conftest import timens_argv

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/ns/time"), reason="kernel without time namespaces"
)

NS = 1_000_000_000
DAY = 86400 * NS
MS = 1_000_000

# clock ids, as in <linux/time.h>
CLOCKS = {
    "REALTIME": 0,
    "MONOTONIC": 1,
    "MONOTONIC_RAW": 4,
    "MONOTONIC_COARSE": 6,
    "BOOTTIME": 7,
    "BOOTTIME_ALARM": 9,
}
# which offset the kernel adds to each clock (REALTIME gets none)
OFFSET_OF = {
    "REALTIME": None,
    "MONOTONIC": "monotonic",
    "MONOTONIC_RAW": "monotonic",
    "MONOTONIC_COARSE": "monotonic",
    "BOOTTIME": "boottime",
    "BOOTTIME_ALARM": "boottime",
}
# how far apart two reads of a clock may be beyond the test's own window:
# coarse clocks lag by up to a tick, and any clock may be read a little
# before the window opens on another CPU
SLACK = 20 * MS
EACCES = 13
EPERM = 1


def host_ns_inode():
    return os.stat("/proc/self/ns/time").st_ino


def host_clocks():
    """Host readings of every clock (None where the clock cannot be read)."""
    out = {}
    for name, clock in CLOCKS.items():
        try:
            out[name] = time.clock_gettime_ns(clock)
        except OSError:
            out[name] = None
    return out


def wait_for_uptime(seconds):
    """Negative offsets need the host clocks to be past them: on a machine
    that has just booted, wait (once, at most SECONDS) rather than skip."""
    while host_uptime() < seconds:
        time.sleep(1)


def host_uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def host_btime():
    with open("/proc/stat") as f:
        return int(re.search(r"^btime (\d+)$", f.read(), re.M).group(1))


def ok(proc, what):
    assert proc.returncode == 0, f"{what}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc


def parse_clocks(text):
    """kt_clocks output -> ({(clock, how): ns or ('error', errno)}, {key: int})."""
    clocks, facts = {}, {}
    for line in text.splitlines():
        words = line.split()
        if words[0] == "clock":
            _, name, how, *value = words
            clocks[name, how] = ("error", int(value[1])) if value[0] == "error" else int(value[0])
        else:
            facts[words[0]] = int(words[1])
    return clocks, facts


def check_results(text, expect_names):
    """A self-checking probe's "ok"/"not ok"/"skip" lines: no failures, all ran."""
    failed = [line for line in text.splitlines() if line.startswith("not ok")]
    assert not failed, "\n".join(failed)
    passed = {line[3:] for line in text.splitlines() if line.startswith("ok ")}
    skipped = [line for line in text.splitlines() if line.startswith("skip ")]
    missing = {
        name for name in expect_names
        if name not in passed and not any(s[5:].split(":")[0] in name for s in skipped)
    }
    assert not missing, f"checks that did not run: {sorted(missing)}\n{text}"
    return passed


def assert_clock_window(clocks, before, after, offsets, where):
    """Each namespace reading lies in [host before, host after] + the offset."""
    for (name, how), value in clocks.items():
        if before[name] is None:
            # the host cannot read it (BOOTTIME_ALARM without an RTC): nor
            # may the namespace, and for the same reason
            assert isinstance(value, tuple), f"{where}: {name} ({how}) read {value} in the namespace only"
            continue
        assert not isinstance(value, tuple), f"{where}: {name} ({how}) failed: errno {value[1]}"
        off = offsets[OFFSET_OF[name]] if OFFSET_OF[name] else 0
        lo, hi = before[name] + off - SLACK, after[name] + off + SLACK
        assert lo <= value <= hi, (
            f"{where}: {name} ({how}) read {value}, expected host + {off} in [{lo}, {hi}]: "
            f"off by {min(value - lo, value - hi, key=abs) / NS:+.3f} s"
        )


# -- clocks: the kernel's timens.c, through `timens run` -----------------

RUN_CASES = [
    # (--monotonic, --boottime, monotonic offset ns, boottime offset ns)
    pytest.param("+10d", "+10d1000s", 10 * DAY, 10 * DAY + 1000 * NS, id="days"),
    pytest.param("+2h30m", "+1.5s", 9000 * NS, 1500 * MS, id="units"),
    pytest.param("-60s", "-90", -60 * NS, -90 * NS, id="negative"),
    pytest.param(None, "+70d", 0, 70 * DAY, id="boottime-only"),
]


def run_args(monotonic, boottime):
    args = []
    if monotonic is not None:
        args.append(f"--monotonic={monotonic}")
    if boottime is not None:
        args.append(f"--boottime={boottime}")
    return args


@pytest.mark.parametrize("monotonic, boottime, mono_off, boot_off", RUN_CASES)
def test_clocks_offset_by_run(timens, compile_probe, monotonic, boottime, mono_off, boot_off):
    """Every offset clock, vDSO and syscall, reads host + offset; REALTIME reads host."""
    if min(mono_off, boot_off) < 0:
        wait_for_uptime(120)
    probe = compile_probe("kt_clocks")
    before = host_clocks()
    proc = ok(timens("run", *run_args(monotonic, boottime), "--", probe), "timens run kt_clocks")
    after = host_clocks()
    clocks, facts = parse_clocks(proc.stdout)
    assert {how for _, how in clocks} == {"vdso", "syscall"}
    assert_clock_window(clocks, before, after,
                        {"monotonic": mono_off, "boottime": boot_off}, "timens run")
    # a new namespace; the process that asked for it (timens) stays outside
    assert facts["ns_time"] != host_ns_inode()
    assert facts["ns_time_for_children"] == facts["ns_time"]
    assert facts["parent_ns_time"] == host_ns_inode()


def test_clocks_target(timens, compile_probe):
    """`=VALUE` targets: the clocks read VALUE when the namespace is made, then run on."""
    probe = compile_probe("kt_clocks")
    start = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    proc = ok(timens("run", "--monotonic==2h", "--boottime==400d", "--", probe), "timens run")
    elapsed = time.clock_gettime_ns(time.CLOCK_MONOTONIC) - start
    clocks, _ = parse_clocks(proc.stdout)
    for name, target in [("MONOTONIC", 2 * 3600 * NS), ("BOOTTIME", 400 * DAY)]:
        for how in ("vdso", "syscall"):
            value = clocks[name, how]
            assert target <= value <= target + elapsed + SLACK, (
                f"{name} ({how}) read {value / NS:.3f} s, target {target / NS} s "
                f"(+ at most {elapsed / NS:.3f} s)"
            )


# -- timers, sleeps, futex: timerfd.c, timer.c, clock_nanosleep.c, futex.c --

DEADLINE_CASES = [
    pytest.param("+70d", "+9d", 70 * DAY, 9 * DAY, id="ahead"),
    pytest.param("-60s", "-90s", -60 * NS, -90 * NS, id="behind"),
]


def timer_names():
    names = []
    for api in ("timerfd", "posix"):
        for clock in ("MONOTONIC", "BOOTTIME", "BOOTTIME_ALARM"):
            names += [f"{api}-{clock}-{check}" for check in ("rel3600", "abs3600", "abs100ms", "host")]
    return names


@pytest.mark.parametrize("monotonic, boottime, mono_off, boot_off", DEADLINE_CASES)
def test_timers(timens, compile_probe, monotonic, boottime, mono_off, boot_off):
    """timerfd and POSIX timers: absolute deadlines in namespace time fire on time.

    BOOTTIME_ALARM timers are checked where the kernel allows them (they
    need an RTC for POSIX timers) and reported as skipped otherwise.
    """
    if min(mono_off, boot_off) < 0:
        wait_for_uptime(120)
    probe = compile_probe("kt_timers")
    proc = timens("run", *run_args(monotonic, boottime), "--", probe, mono_off, boot_off)
    passed = check_results(proc.stdout, timer_names())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # MONOTONIC and BOOTTIME always work; only the alarm clock may be missing
    assert {n for n in timer_names() if "ALARM" not in n} <= passed


@pytest.mark.parametrize("monotonic, boottime, mono_off, boot_off", DEADLINE_CASES)
def test_clock_nanosleep(timens, compile_probe, monotonic, boottime, mono_off, boot_off):
    """Absolute clock_nanosleep wakes at the namespace deadline; long sleeps stay asleep."""
    if min(mono_off, boot_off) < 0:
        wait_for_uptime(120)
    probe = compile_probe("kt_sleep")
    proc = timens("run", *run_args(monotonic, boottime), "--", probe)
    names = [f"{c}-{k}" for c in ("MONOTONIC", "BOOTTIME") for k in ("abs100ms", "abs3600", "rel3600")]
    check_results(proc.stdout, names)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("monotonic, boottime, mono_off, boot_off", DEADLINE_CASES)
def test_futex_absolute_timeout(timens, compile_probe, monotonic, boottime, mono_off, boot_off):
    """FUTEX_WAIT_BITSET: a MONOTONIC absolute timeout is namespace time; REALTIME is not offset."""
    if min(mono_off, boot_off) < 0:
        wait_for_uptime(120)
    probe = compile_probe("kt_futex")
    proc = timens("run", *run_args(monotonic, boottime), "--", probe)
    check_results(proc.stdout, ["futex-MONOTONIC-abs100ms", "futex-REALTIME-abs100ms"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- procfs.c -------------------------------------------------------------

PROCFS_CASES = [
    # (--monotonic, --boottime, (mono sec, nsec), (boot sec, nsec)) as the kernel shows them
    pytest.param("+1d", "+10d", (86400, 0), (864000, 0), id="days"),
    pytest.param("+2h30m", "+1.5s", (9000, 0), (1, 500_000_000), id="fraction"),
    pytest.param("-1.5s", "-90s", (-2, 500_000_000), (-90, 0), id="negative"),
]


def parse_procfs(text):
    facts, offsets = {}, {}
    for line in text.splitlines():
        words = line.split()
        if words[0] == "offsets":
            offsets[words[1]] = (int(words[2]), int(words[3]))
        else:
            facts[words[0]] = words[1]
    return facts, offsets


@pytest.mark.parametrize("monotonic, boottime, mono, boot", PROCFS_CASES)
def test_procfs(timens, compile_probe, monotonic, boottime, mono, boot):
    """/proc/uptime and /proc/stat btime are shifted; timens_offsets shows the offsets."""
    probe = compile_probe("kt_procfs")
    boot_off = boot[0] * NS + boot[1]
    up_before, btime_before = host_uptime(), host_btime()
    proc = ok(timens("run", *run_args(monotonic, boottime), "--", probe), "timens run kt_procfs")
    up_after, btime_after = host_uptime(), host_btime()
    facts, offsets = parse_procfs(proc.stdout)

    assert offsets == {"monotonic": mono, "boottime": boot}
    uptime = float(facts["uptime"])
    lo, hi = up_before + boot_off / NS - 0.02, up_after + boot_off / NS + 0.02
    assert lo <= uptime <= hi, f"/proc/uptime {uptime}, expected host + {boot_off / NS} s in [{lo}, {hi}]"
    # /proc/uptime is BOOTTIME with two decimals
    assert abs(uptime - int(facts["boottime"]) / NS) < 0.02
    # btime is when the namespace's BOOTTIME was 0: host btime minus the offset
    # (rounded to whole seconds, so a fractional offset may move it by one)
    expect = {btime_before - boot_off // NS, btime_after - boot_off // NS}
    shifted = int(facts["btime"])
    if boot[1]:
        assert min(abs(shifted - e) for e in expect) <= 1, (shifted, expect)
    else:
        assert shifted in expect, (shifted, expect)
    # timens starts commands without CAP_SYS_TIME: nothing inside may change
    # clocks (the frozen-offsets rule, EACCES, is checked from outside below)
    assert int(facts["write_offsets"]) == EPERM


# -- exec.c, vfork_exec.c -----------------------------------------------------

def test_exec_fork_vfork_inheritance(timens, compile_probe):
    """Offsets survive exec and reach fork/vfork children and threads; the kernel's
    vfork rule holds inside: a vfork child enters a freshly unshared namespace
    only at exec, and the unsharer never moves."""
    probe = compile_probe("kt_exec")
    off = 10 * DAY
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    proc = timens("run", "--monotonic=+10d", "--", probe)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    names = [f"{who}-{how}" for who in (
        "self", "ns-fork", "ns-fork-exec", "ns-vfork-exec", "unsharer",
        "nested-vfork-exec", "nested-fork", "nested-fork-exec", "parent-after",
    ) for how in ("vdso", "syscall", "thread")]
    names += ["unsharer-ns", "nested-vfork-before-exec", "nested-vfork-before-exec-ns"]
    check_results(proc.stdout, names)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and what the first process read after timens exec'd it is host + offset
    first = int(re.search(r"^self MONOTONIC (\d+)$", proc.stdout, re.M).group(1))
    assert before + off - SLACK <= first <= after + off + SLACK


# -- timens.c: a namespace applies to its members only; setns into it --------

@contextlib.contextmanager
def holding(*timens_args, probe):
    """Run `timens ARGS -- kt_clocks --hold`; yield (host before, host after,
    what it read) while it stays inside, then let it exit."""
    before = host_clocks()
    holder = subprocess.Popen(timens_argv(*timens_args, "--", probe, "--hold"),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in holder.stdout:
            lines.append(line)
            if line.startswith("ppid "):
                break
        after = host_clocks()
        read = parse_clocks("".join(lines))
        assert read[0], f"timens {timens_args} printed nothing (exit {holder.poll()})"
        yield before, after, read
    finally:
        holder.stdin.close()
        status = holder.wait(timeout=10)
    assert status == 0, f"timens {timens_args} -- kt_clocks --hold: exit {status}"


def check_enters(timens, probe, how, offsets, ns_inode):
    """`timens exec HOW -- kt_clocks` reads host + offsets in namespace ns_inode."""
    before = host_clocks()
    proc = ok(timens("exec", *how, "--", probe), f"timens exec {how}")
    after = host_clocks()
    clocks, facts = parse_clocks(proc.stdout)
    assert_clock_window(clocks, before, after, offsets, f"timens exec {how}")
    assert facts["ns_time"] == ns_inode, how


def test_create_exec_and_enter_by_pid(timens, compile_probe, rundir):
    """`timens create` shifts no one; `timens exec NAME` and `timens exec --pid`
    enter the same namespace and read the same offsets."""
    probe = compile_probe("kt_clocks")
    offsets = {"monotonic": 5 * DAY, "boottime": 6 * DAY}
    ok(timens("create", "kt-ns", "--monotonic", "+5d", "--boottime", "+6d"), "timens create")
    try:
        # The creator and everyone outside keep host time.
        before = host_clocks()
        outside = subprocess.run([probe], capture_output=True, text=True, check=True)
        after = host_clocks()
        clocks, facts = parse_clocks(outside.stdout)
        assert_clock_window(clocks, before, after, {"monotonic": 0, "boottime": 0}, "outside")
        assert facts["ns_time"] == host_ns_inode()

        # A process entering by name is inside; entering again by name, or by
        # that process's pid, is the same namespace.
        with holding("exec", "kt-ns", probe=probe) as (before, after, (clocks, held)):
            assert_clock_window(clocks, before, after, offsets, "timens exec NAME")
            assert held["ns_time"] != host_ns_inode()
            for how in (["kt-ns"], ["--pid", str(held["pid"])]):
                check_enters(timens, probe, how, offsets, held["ns_time"])
    finally:
        ok(timens("delete", "kt-ns"), "timens delete")


def test_enter_run_namespace_by_pid(timens, compile_probe):
    """A namespace made by `timens run` has no name; `timens exec --pid` enters it."""
    wait_for_uptime(120)
    probe = compile_probe("kt_clocks")
    offsets = {"monotonic": -30 * NS, "boottime": 4 * DAY}
    with holding("run", "--monotonic=-30s", "--boottime=+4d", probe=probe) as (
            before, after, (clocks, held)):
        assert_clock_window(clocks, before, after, offsets, "timens run")
        check_enters(timens, probe, ["--pid", str(held["pid"])], offsets, held["ns_time"])


def test_named_offsets_frozen_once_entered(timens, compile_probe, rundir):
    """The kernel refuses offset changes once a process is inside (EACCES), even to
    a caller with CAP_SYS_TIME outside; inside, commands lack CAP_SYS_TIME (EPERM);
    and `timens set` says so plainly."""
    probe = compile_probe("kt_procfs")
    expect = {"monotonic": (3 * 86400, 0), "boottime": (-30, 0)}
    ok(timens("create", "kt-frozen", "--monotonic=+3d", "--boottime=-30s"), "timens create")
    try:
        proc = ok(timens("exec", "kt-frozen", "--", probe), "timens exec")
        facts, offsets = parse_procfs(proc.stdout)
        assert offsets == expect
        assert int(facts["write_offsets"]) == EPERM, "no CAP_SYS_TIME inside"

        # From outside, with CAP_SYS_TIME: the kernel itself refuses (EACCES).
        held = subprocess.Popen(timens_argv("exec", "kt-frozen", "--", "sh", "-c", "echo $$; exec sleep 30"),
                                stdout=subprocess.PIPE, text=True)
        try:
            pid = int(held.stdout.readline())
            with pytest.raises(OSError) as refused:
                with open(f"/proc/{pid}/timens_offsets", "w") as f:
                    f.write("monotonic 1 0")
            assert refused.value.errno == EACCES
            os.kill(pid, 9)
        finally:
            held.kill()
            held.wait()

        for clock in ("--monotonic=+1d", "--boottime=+1d"):
            refused = timens("set", "kt-frozen", clock)
            assert refused.returncode == 125, (clock, refused)
            assert "Traceback" not in refused.stderr
            assert clock[2:].split("=")[0] in refused.stderr.lower(), refused.stderr
        proc = ok(timens("exec", "kt-frozen", "--", probe), "timens exec")
        assert parse_procfs(proc.stdout)[1] == expect
    finally:
        ok(timens("delete", "kt-frozen"), "timens delete")
