"""Run commands inside a time namespace, shaped like `subprocess`.

`Popen` and `run` take the same keyword arguments as their `subprocess`
namesakes, plus either `namespace=` (an open `TimeNamespace`) or the clock
values for a new anonymous one (`monotonic=`, `boottime=`, `realtime=`,
`freeze=`).
The child enters the namespace through `timens-helper`, a single-threaded
step right before exec, so this works from threaded programs too (no
`preexec_fn`).
"""
import subprocess

from .namespace import TimeNamespace

_NEW_NS_KEYS = ("monotonic", "boottime", "realtime")


class Popen(subprocess.Popen):
    """subprocess.Popen whose child runs inside a time namespace.

    A namespace made here for this one child is closed (and its clock page
    removed) once the child has been waited for.
    """

    def __init__(self, args, *, namespace=None, monotonic=None, boottime=None, realtime=None, freeze=False,
                 **kwargs):
        if namespace is not None and (freeze or any(v is not None for v in (monotonic, boottime, realtime))):
            raise ValueError("give either namespace= or clock values for a new namespace, not both")
        if kwargs.get("preexec_fn") is not None:
            raise ValueError("preexec_fn is not supported: the child enters the namespace right before exec")
        for key in ("user", "group", "extra_groups"):
            if kwargs.get(key) is not None:
                raise ValueError(f"{key}= is not supported: run the command through setpriv or runuser instead")
        if kwargs.get("shell"):  # as subprocess does on POSIX
            args = ["/bin/sh", "-c", args] if isinstance(args, (str, bytes)) else ["/bin/sh", "-c", *args]
            kwargs["shell"] = False
        elif isinstance(args, (str, bytes)):
            args = [args]
        executable = kwargs.pop("executable", None)
        args = list(args)
        if executable is not None:
            args = [executable, *args[1:]]
        find_program(args[0], kwargs.get("env"), kwargs.get("cwd"))
        self._owned = None
        if namespace is None:
            namespace = self._owned = TimeNamespace.create(
                monotonic=monotonic, boottime=boottime, realtime=realtime, freeze=freeze
            )
        self.namespace = namespace
        argv, env, fds = namespace.enter_argv(list(args), kwargs.pop("env", None))
        pass_fds = tuple(kwargs.pop("pass_fds", ())) + tuple(fds)
        try:
            super().__init__(argv, env=env, pass_fds=pass_fds, **kwargs)
        except BaseException:
            self._release()
            raise
        self.args = args

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


def find_program(program, env, cwd):
    """Raise FileNotFoundError as subprocess does, before any namespace is made."""
    import os
    import shutil

    program = os.fsdecode(program)
    if "/" in program:
        candidates = [os.path.join(os.fsdecode(cwd), program) if cwd is not None else program]
    else:
        search = (env if env is not None else os.environ).get("PATH", os.defpath)
        if shutil.which(program, path=search) is not None:
            return
        candidates = [os.path.join(d or ".", program) for d in search.split(os.pathsep)]
    if not any(os.path.exists(c) for c in candidates):
        raise FileNotFoundError(2, "No such file or directory", program)
    if not any(os.access(c, os.X_OK) and not os.path.isdir(c) for c in candidates):
        raise PermissionError(13, "Permission denied", program)


def run(args, *, input=None, capture_output=False, timeout=None, check=False, **kwargs):
    """subprocess.run inside a time namespace; returns CompletedProcess."""
    if capture_output:
        if kwargs.get("stdout") is not None or kwargs.get("stderr") is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output")
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    if input is not None:
        if kwargs.get("stdin") is not None:
            raise ValueError("stdin and input arguments may not both be used")
        kwargs["stdin"] = subprocess.PIPE
    with Popen(args, **kwargs) as proc:
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
