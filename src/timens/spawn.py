"""Starting a command through `timens-helper enter`, and `timens run` in one step.

A namespace that nothing but its command needs (no clock page, no name,
nothing that opens it later) is made by the process that becomes the
command: `timens-helper enter -n` unshares it, writes the offsets, joins it
and execs, started with posix_spawn. That is one short-lived process fewer
than `TimeNamespace.create` then `Popen` (a `hold` helper, then `enter`),
and no `subprocess` import. What the command gets stays the same: offsets
written before anything enters, no CAP_SYS_TIME, its signals unblocked, a
process group of its own outside a terminal job, no file descriptors but
stdio, and a failed exec reported over a close-on-exec pipe, as
`subprocess` reports it.
"""
import errno
import os
import sys

from . import errors, kernel

_ERRNO_BYTES = 4  # the helper writes an errno as a native int, then (for -n) the failed step


def pop_preload(env):
    """Take LD_PRELOAD out of ENV (the helper must not load it; it sets it for
    the command): its words, without any libtimens (a namespace with a page
    gets its own)."""
    return [p for p in env.pop("LD_PRELOAD", "").replace(":", " ").split() if "libtimens" not in p]


def read_report(fd):
    """What the helper reported on FD before EOF: None once the exec
    succeeded, else (errno, the step that failed or "" for the exec)."""
    data = b""
    while True:
        try:
            chunk = os.read(fd, 256)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    if len(data) < _ERRNO_BYTES:
        return None
    return int.from_bytes(data[:_ERRNO_BYTES], sys.byteorder), data[_ERRNO_BYTES:].decode(errors="replace")


def run_in_new_namespace(cmd, *, monotonic=None, boottime=None, realtime=None, freeze=False):
    """`timens run` in one step: run CMD (a list of str) in a new namespace
    and wait for it, as signals.run_in_job does; its status (-N: killed by
    signal N). None, having started nothing, when one step cannot make the
    namespace: it needs a clock page (REALTIME, freeze, or a caller that
    runs with a REALTIME offset), or its user namespace must hold it while
    the command stays outside (root without CAP_SYS_TIME nesting timens).
    """
    from .offsets import kernel_offsets, realtime_offset

    if freeze or realtime is not None:
        return None
    try:
        offsets = kernel_offsets(monotonic, boottime)
        if realtime_offset() is not None:
            return None
        map_user, words = kernel.plan_namespace(offsets)
        if map_user and not kernel.must_join_user_namespace():
            return None
        from . import stale
        from .rundir import default_rundir
        from .signals import run_in_job

        stale.sweep(default_rundir())
        return run_in_job(lambda cmd, **kwargs: NewNamespaceChild(cmd, map_user, words, **kwargs), cmd)
    except (errors.TimensError, errors.CommandError):
        raise
    except OSError as err:
        raise errors.from_os_error(err, "create the namespace") from err


class NewNamespaceChild:
    """CMD started by `timens-helper enter -n`, in a namespace it makes (in a
    user namespace of its own with MAP_USER; with the offsets WORDS, "S N S
    N", or the caller's); what run_in_job uses of a Popen."""

    def __init__(self, cmd, map_user, words, *, unblock_signals=(), process_group=None):
        self.returncode = None
        env = dict(os.environ)
        argv = [kernel.HELPER, "enter", "-n", "-C", "-p", " ".join(pop_preload(env))]
        if map_user:
            argv.append("-m")
        if words:
            argv += ["-o", ",".join(words)]
        if unblock_signals:
            argv += ["-U", ",".join(str(int(s)) for s in unblock_signals)]
        err_read, err_write = os.pipe()
        try:
            err_write = kernel.above_stdio(err_write)  # a command redirecting its stdio must not close it
            self.pid = os.posix_spawn(
                kernel.HELPER, argv + ["-e", str(err_write), "--", *cmd], env,
                file_actions=[(os.POSIX_SPAWN_DUP2, err_write, err_write)],  # same fd: stays open across exec
                setsigdef=kernel.RESTORED_SIGNALS, **({} if process_group is None else {"setpgroup": process_group}),
            )
            os.close(err_write)
            err_write = None
            report = read_report(err_read)
        finally:
            for fd in (err_read, err_write):
                if fd is not None:
                    os.close(fd)
        if report is not None:
            os.waitpid(self.pid, 0)
            err_no, step = report
            if not step:
                raise errors.command_error(err_no, cmd[0])
            name = errno.errorcode.get(err_no, "?")
            raise kernel.helper_error(f"timens-helper: {step}: {name} ({os.strerror(err_no)})", map_user)

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig):
        if self.returncode is None:  # not reaped: the pid is still the command's
            os.kill(self.pid, sig)
