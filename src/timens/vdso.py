"""The vDSO patch: REALTIME for programs that never load libtimens.so.

Static programs (glibc, musl, busybox), Go (with or without cgo: its
runtime reads the vDSO itself) and programs that clear LD_PRELOAD read the
clocks through the vDSO. When a namespace has a clock page, timens starts
commands under `timens-tracer`, which follows the command and everything it
starts and, at each exec, injects code next to the new vDSO that applies the
page (native/vdso/). Dynamically linked programs load libtimens.so as well;
it then reads past the patch, so the offset is applied once.

The cost: a traced process cannot be traced by anything else (gdb, strace,
CRIU), setuid programs run without their privileges, and every fork and
exec stops briefly for the tracer. TIMENS_VDSO_PATCH=0 turns the patch off.
"""
import os

from . import kernel

TRACER = os.path.join(kernel.NATIVE, "timens-tracer")
ENV_SWITCH = "TIMENS_VDSO_PATCH"


def available():
    """Whether this machine has the patch: x86-64, with timens-tracer built."""
    return os.uname().machine == "x86_64" and os.access(TRACER, os.X_OK)  # as platform.machine(), without its imports


def enabled(env=None):
    """Whether commands get the patch: available, and not turned off in ENV."""
    env = os.environ if env is None else env
    return env.get(ENV_SWITCH, "1") != "0" and available()


def traced(args, page_path, env=None, exec_options=()):
    """ARGS run under the tracer, with PAGE_PATH as the page to apply, or
    None where the patch does not apply. EXEC_OPTIONS are timens-helper's
    -e/-x: the tracer takes them over, as it is the one that execs the
    command."""
    if page_path is None or not enabled(env):
        return None
    return [str(TRACER), "run", os.path.abspath(page_path), *exec_options, "--", *args]
