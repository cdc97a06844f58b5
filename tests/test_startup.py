"""What `timens run` promises beyond its speed, on the paths that make it quick.

A run whose namespace needs no clock page is made, joined and exec'd by one
`timens-helper enter -n`, started with posix_spawn, its usual forms read
without argparse; the installed `timens` script leaves without the
interpreter's teardown. Each must still say and do what the full path does.
(No timing here: bench/ and the README measure it.)
"""
import json
import os
import subprocess
import sys

import pytest

from timens import kernel

INSTALLED = os.path.join(os.path.dirname(sys.executable), "timens")
HOUR = 3600


def monotonic_offset(stdout):
    return int(next(line.split()[1] for line in stdout.splitlines() if line.startswith("monotonic")))


@pytest.mark.parametrize("form", [
    ["--monotonic", "+1h", "--"],
    ["--monotonic=+1h", "--"],
    ["--monotonic", "+1h"],  # no "--": the command starts at the first word that is no option
    ["--mono", "+1h", "--"],  # an abbreviation: argparse reads it
    ["--monotonic", "+5h", "--monotonic", "+1h", "--"],  # the last one counts, as in argparse
    ["--no-vdso-patch", "--monotonic", "+1h"],
])
def test_every_spelling_of_run_means_the_same(timens, form):
    proc = timens("run", *form, "cat", "/proc/self/timens_offsets")
    assert proc.returncode == 0, proc.stderr
    assert monotonic_offset(proc.stdout) == HOUR


@pytest.mark.parametrize("how", [["run"], ["run", "--realtime", "+1d"]], ids=["one step", "with a page"])
def test_the_command_inherits_no_descriptor_but_stdio(timens, how):
    """As subprocess's close_fds: a descriptor timens inherited does not reach the command."""
    read, write = os.pipe()
    try:
        proc = timens(*how, "--", "sh", "-c", f"test -e /proc/self/fd/{write} && echo open || echo closed",
                      pass_fds=(write,))
    finally:
        os.close(read)
        os.close(write)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "closed\n"


def test_a_failed_step_says_what_hold_would(rundir):
    """The one step cannot write offsets without CAP_SYS_TIME: its report
    (errno and step, over the exec pipe) becomes the message a failed
    `hold` gives, and the command never runs."""
    code = (
        "from timens import spawn, errors\n"
        "try:\n"
        "    spawn.NewNamespaceChild(['touch', 'ran'], False, ['3600', '0', '0', '0'])\n"
        "except errors.PermissionDenied as err:\n"
        "    print(err)\n"
    )
    proc = subprocess.run(["setpriv", "--bounding-set", "-sys_time", "--inh-caps=-sys_time", sys.executable, "-c", code],
                          capture_output=True, text=True, cwd=rundir.parent, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "cannot set offsets: Operation not permitted; this needs CAP_SYS_TIME: run as root\n"
    assert proc.stderr == ""
    assert not (rundir.parent / "ran").exists()


def test_the_helper_reports_errno_and_step_on_the_pipe():
    read, write = os.pipe()
    try:
        proc = subprocess.run(["setpriv", "--bounding-set", "-sys_time", "--inh-caps=-sys_time", kernel.HELPER,
                               "enter", "-n", "-o", "1,0,0,0", "-e", str(write), "--", "true"],
                              pass_fds=(write,), capture_output=True, timeout=60)
        os.close(write)
        write = None
        report = os.read(read, 64)
    finally:
        os.close(read)
        if write is not None:
            os.close(write)
    assert proc.returncode == 125 and proc.stderr == b""
    assert int.from_bytes(report[:4], sys.byteorder) == 1  # EPERM
    assert report[4:] == b"offsets"


def test_the_installed_command_flushes_its_output_and_passes_the_status(rundir):
    """bin/timens leaves with os._exit: what it printed still arrives whole
    through a pipe, and the command's status is its own."""
    listed = subprocess.run([INSTALLED, "list", "--json"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["schema"] == "timens.list/1", "all of it: a pipe's stdout is block-buffered"
    status = subprocess.run([INSTALLED, "run", "--", "sh", "-c", "exit 7"], timeout=60)
    assert status.returncode == 7
    failed = subprocess.run([INSTALLED, "run", "--boottime", "abc"], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 125
    assert failed.stderr == "timens: malformed boottime value 'abc': expected a number with units ns, us, ms, s, " \
                            "m, h, d, w or y, e.g. +1d, -3h, +2h30m, +1.5s\n"
