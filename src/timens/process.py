"""Run commands inside a time namespace, shaped like `subprocess`.

`Popen` starts a child in a namespace object it is given (anything with
`enter_argv`, in practice a `TimeNamespace`), or in one it makes for this
child alone. The child enters through `timens-helper`, a single-threaded
step right before exec, so this works from threaded programs too (no
`preexec_fn`). As in `subprocess`, a failed exec is reported by the helper
over a close-on-exec pipe and raised here as the matching `OSError`
(`errors.CommandError`): FileNotFoundError, PermissionError, ...
"""
import os
import subprocess

from . import errors
from .kernel import above_stdio
from .spawn import read_report


class Popen(subprocess.Popen):
    """subprocess.Popen whose child runs inside NAMESPACE, or inside the
    namespace NEW_NAMESPACE() returns, which is then closed (and its clock
    page removed) once the child has been waited for. UNBLOCK_SIGNALS are
    unblocked in the child right before exec."""

    def __init__(self, args, *, namespace=None, new_namespace=None, unblock_signals=(), **kwargs):
        if kwargs.get("preexec_fn") is not None:
            raise ValueError("preexec_fn is not supported: the child enters the namespace right before exec")
        for key in ("user", "group", "extra_groups"):
            if kwargs.get(key) is not None:
                raise ValueError(f"{key}= is not supported: run the command through setpriv or runuser instead")
        if kwargs.get("shell"):  # as subprocess does on POSIX
            args = ["/bin/sh", "-c", args] if isinstance(args, (str, bytes)) else ["/bin/sh", "-c", *args]
            kwargs["shell"] = False
        elif isinstance(args, (str, bytes, os.PathLike)):
            args = [args]
        args = list(args)
        if not args:
            raise ValueError("no command given")
        executable = kwargs.pop("executable", None)
        self._owned = None
        if namespace is None:
            namespace = self._owned = new_namespace()
        self.namespace = namespace
        program = executable if executable is not None else args[0]
        err_read = err_write = None
        try:
            err_read, err_write = os.pipe2(os.O_CLOEXEC)
            err_write = above_stdio(err_write)  # a child redirecting its stdio must not close it
            argv, env, fds = namespace.enter_argv([os.fsdecode(a) for a in args], kwargs.pop("env", None),
                                                  program=os.fsdecode(program), err_fd=err_write)
            if unblock_signals:  # blocked by the caller; the command gets them unblocked
                argv[2:2] = ["-U", ",".join(str(int(s)) for s in unblock_signals)]
            pass_fds = tuple(kwargs.pop("pass_fds", ())) + tuple(fds) + (err_write,)
            super().__init__(argv, env=env, pass_fds=pass_fds, **kwargs)
            os.close(err_write)
            err_write = None
            report = read_report(err_read)
        except BaseException:
            for fd in (err_read, err_write):
                if fd is not None:
                    os.close(fd)
            self._release()
            raise
        os.close(err_read)
        self.args = args
        if report is not None:
            super().wait()
            for stream in (self.stdin, self.stdout, self.stderr):
                if stream:
                    stream.close()
            self._release()
            raise errors.command_error(report[0], program)

    def _release(self):
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def wait(self, timeout=None):
        status = super().wait(timeout)
        self._release()
        return status

    def poll(self):
        status = super().poll()
        if status is not None:
            self._release()
        return status


def run(popen, args, *, input=None, capture_output=False, timeout=None, check=False, **kwargs):
    """subprocess.run over POPEN (a Popen-shaped callable); returns CompletedProcess."""
    if capture_output:
        if kwargs.get("stdout") is not None or kwargs.get("stderr") is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output")
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    if input is not None:
        if kwargs.get("stdin") is not None:
            raise ValueError("stdin and input arguments may not both be used")
        kwargs["stdin"] = subprocess.PIPE
    with popen(args, **kwargs) as proc:
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        except BaseException:
            proc.kill()
            raise
        retcode = proc.poll()
        if check and retcode:
            raise subprocess.CalledProcessError(retcode, proc.args, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(proc.args, retcode, stdout, stderr)
