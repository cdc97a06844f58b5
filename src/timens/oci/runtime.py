"""`timens-runtime`: run the real OCI runtime, inside a container's time namespace.

A container that asks for no clocks costs one exec: the real runtime gets
the arguments untouched. One that asks for clocks gets a named namespace
whose name is the container id; `create`/`run` and `exec` run the real
runtime inside it, so that the container and every exec'd process inherit
it, and `delete` removes it. Namespaces of containers the real runtime no
longer knows (killed engine, lost `delete`) are removed on the next call.
"""
import os
import sys

from .. import errors, kernel
from ..rundir import RunDir
from . import args as cmdline

# A container with no clocks costs the real runtime's start plus this
# module's: everything else (json, the namespace API, subprocess) is
# imported only when a container asks for clocks or one of ours is named.

EXIT_OWN_ERROR = 125
RUNTIME_ENV = "TIMENS_RUNTIME"
FRONT_END = "timens-runtime"  # native/runtime_front.c, which runs this module as timens-runtime-py
META_KEY = "oci"  # the part of a namespace's metadata that timens-runtime owns


class Failure(Exception):
    """An error worded for the engine's user: one line, exit 125."""


def main(argv=None):
    call = cmdline.parse(sys.argv[1:] if argv is None else argv)
    try:
        real = real_runtime(call)
        rundir = RunDir()
        reconcile(rundir, full=call.command in ("create", "run"))
        if call.command in ("create", "run"):
            return create(call, real, rundir)
        ns = open_owned(rundir, call.container_id)
        if ns is None:
            return exec_real(real, call.argv)
        if call.command == "exec":
            return exec_(call, real, ns)
        if call.command == "delete":
            return delete(call, real, rundir, ns)
        # Every command runs inside, as the container does: the kernel shows
        # process start times shifted by BOOTTIME, and runc takes a process
        # whose start time changed for a dead one.
        return exec_in_namespace(ns, real, call.argv)
    except (Failure, errors.TimensError) as err:
        return fail(call, str(err))
    except OSError as err:  # an engine's file we could not read or write
        return fail(call, f"{err.filename or 'the runtime'}: {err.strerror}" if err.strerror else str(err))
    except ValueError as err:  # a process file that is not JSON
        return fail(call, f"not an OCI process or config: {err}")


# ---------------------------------------------------------------- the real runtime


def real_runtime(call):
    """--timens-runtime PATH, else $TIMENS_RUNTIME, else runc, else crun from PATH."""
    named = call.runtime or os.environ.get(RUNTIME_ENV)
    candidates = [named] if named else ["runc", "crun"]
    # Never ourselves: neither this script nor the front end that ran it.
    me = os.path.realpath(sys.argv[0])
    us = {me, os.path.join(os.path.dirname(me), FRONT_END)}
    for name in candidates:
        path = which(name)
        if path and os.path.realpath(path) not in us:
            return path
    if named:
        raise Failure(f"the OCI runtime {named!r} ({'--timens-runtime' if call.runtime else RUNTIME_ENV}) "
                      "is not an executable file")
    raise Failure("no OCI runtime found: install runc or crun, or name one with "
                  f"--timens-runtime PATH or {RUNTIME_ENV}=PATH")


def which(name):
    """shutil.which, without its imports."""
    dirs = [""] if "/" in name else os.get_exec_path()
    for d in dirs:
        path = os.path.join(d, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def exec_real(real, argv):
    os.execv(real, [real, *argv])


def fail(call, message):
    """One line on stderr, and in the runtime log the engine shows errors from."""
    line = f"timens-runtime: {message}"
    print(line, file=sys.stderr)
    log = call.options.get("log")
    if log:
        import json
        import time

        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if call.options.get("log-format") == "json":
            entry = json.dumps({"level": "error", "msg": line, "time": stamp})
        else:
            entry = f"time={json.dumps(stamp)} level=error msg={json.dumps(line)}"
        try:
            with open(log, "a") as f:
                f.write(entry + "\n")
        except OSError:
            pass
    return EXIT_OWN_ERROR


def in_namespace(ns, real, argv):
    """argv, env and fds that run the real runtime inside NS, without the
    library or the vDSO patch (the runtime's own times stay the host's, and
    the container outlives the runtime's call, so no tracer could follow it)."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    helper_argv, env, fds = ns.enter_argv([real, *argv], env=env, vdso_patch=False)
    helper_argv[helper_argv.index("-p") + 1] = ""  # an empty preload: the runtime runs without libtimens
    return helper_argv, env, fds


def exec_in_namespace(ns, real, argv):
    helper_argv, env, fds = in_namespace(ns, real, argv)
    for fd in fds:
        os.set_inheritable(fd, True)
    os.execve(helper_argv[0], helper_argv, env)


def run_in_namespace(ns, real, argv):
    """Run the real runtime inside NS and wait: its exit status (-N: killed
    by signal N). As subprocess.run(pass_fds=...) runs it, without importing
    subprocess (and locale, re, threading with it): `enter -C` leaves the
    runtime nothing but stdio, as close_fds does."""
    helper_argv, env, fds = in_namespace(ns, real, argv)
    helper_argv.insert(helper_argv.index("enter") + 1, "-C")
    for fd in fds:
        os.set_inheritable(fd, True)
    pid = os.posix_spawn(helper_argv[0], helper_argv, env, setsigdef=kernel.RESTORED_SIGNALS)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


# ---------------------------------------------------------------- create / run


def config_path(call):
    config = cmdline.last(call, "config", "f")
    if config:
        return config
    bundle = cmdline.last(call, "bundle", "b") or "."
    return os.path.join(bundle, "config.json")


def create(call, real, rundir):
    path = config_path(call)
    try:
        with open(path, "rb") as f:
            original = f.read()
    except OSError:
        original = b""
    if not call.container_id or not original:
        return exec_real(real, call.argv)  # no config: the real runtime says what is wrong
    # A config with no word of a clock request never gets here: the front
    # end (native/runtime_front.c) runs the real runtime itself.
    from . import spec as oci

    try:
        spec = oci.parse(original)
    except ValueError:
        return exec_real(real, call.argv)
    request = oci.clock_request(spec)
    if not request:
        return exec_real(real, call.argv)
    from .. import vdso
    from ..namespace import TimeNamespace, as_value

    for clock, value in request.items():
        try:
            as_value(value, clock)
        except errors.BadValue as err:
            raise Failure(f"{request.sources[clock]}: {err}") from None
    ns = TimeNamespace.create(call.container_id, rundir=rundir, **request)
    try:
        meta = rundir.read_meta(ns.name)
        bundle = cmdline.last(call, "bundle", "b") or os.path.dirname(os.path.abspath(path))
        patch = ns.page_path is not None and vdso.enabled() and oci.program_in_image(spec, bundle)
        rundir.write_meta(ns.name, {**meta, META_KEY: {**owner_record(call, real), "vdso_patch": patch}})
        oci.save(path, oci.for_real_runtime(spec, request, ns.page_path, vdso_patch=patch))
        if call.command == "run":
            exec_in_namespace(ns, real, call.argv)  # runs in the foreground: no way back
        status = run_in_namespace(ns, real, call.argv)
    except BaseException:
        undo_create(ns, path, original)
        raise
    if status != 0:
        undo_create(ns, path, original)
    return status


def undo_create(ns, path, original):
    with open(path, "wb") as f:
        f.write(original)
    ns.delete()


def owner_record(call, real):
    """Who made the namespace: enough to ask the real runtime about it later."""
    return {"runtime": real, "root": call.root, "pid": os.getpid(), "started": start_time(os.getpid())}


def start_time(pid):
    """The process's start time in clock ticks (tells a reused pid apart)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------- exec


def open_owned(rundir, container_id):
    """The namespace timens-runtime made for CONTAINER_ID, or None."""
    try:
        if not container_id or not os.path.exists(rundir.ns_file(container_id)):
            return None
        if META_KEY not in rundir.read_meta(container_id):
            return None
        from ..namespace import TimeNamespace

        return TimeNamespace.open(container_id, rundir=rundir)
    except (ValueError, errors.TimensError):
        return None  # not a name timens could have made, or a stale entry


def exec_(call, real, ns):
    from . import spec as oci

    argv = list(call.argv)
    process_file = cmdline.last(call, "process", "p")
    # The patch only where create put the tracer into the container.
    traced = ns.page_path is not None and (ns.rundir.read_meta(ns.name).get(META_KEY) or {}).get("vdso_patch")
    if process_file:
        process = oci.load(process_file)
        oci.drop_sys_time(process)
        if ns.page_path is not None:
            oci.preload_env(process)
        if traced:
            process["args"] = oci.traced_args(process.get("args") or [])
        oci.save(process_file, process)
    elif ns.page_path is not None:
        if traced and call.container_index is not None:
            at = call.container_index + 1
            argv[at:at] = oci.TRACER_WORDS  # before the command
        at = call.command_index + 1
        argv[at:at] = ["--env", f"LD_PRELOAD={oci.LIBRARY_IN_CONTAINER}", "--env", f"TIMENS_PAGE={oci.PAGE_IN_CONTAINER}"]
    exec_in_namespace(ns, real, argv)


# ---------------------------------------------------------------- delete and reconcile


def delete(call, real, rundir, ns):
    status = run_in_namespace(ns, real, call.argv)
    owner = rundir.read_meta(ns.name).get(META_KEY)
    gone = status == 0 or container_gone(ns, owner)
    ns.close()
    if gone:
        remove(rundir, ns.name)
    return status


def owned_meta(rundir, name):
    try:
        meta = rundir.read_meta(name)
    except ValueError:
        return None
    return meta if META_KEY in meta else None


def remove(rundir, name):
    from ..namespace import delete_named

    try:
        delete_named(name, rundir=rundir)
    except errors.NoSuchNamespace:
        rundir.remove_meta(name)


def reconcile(rundir, full):
    """Remove the namespaces of containers that are gone.

    Cheap when nothing is gone: a container whose state directory is still
    under its runtime root counts as alive, unless FULL (on create), which
    asks the runtime and also removes the namespaces of stopped containers,
    which no engine starts again (it creates anew). Never fails the call it
    runs in: what it cannot remove now, a later call will.
    """
    for name in rundir.names():
        try:
            reconcile_one(rundir, name, full)
        except (OSError, ValueError, errors.TimensError):
            continue


def reconcile_one(rundir, name, full):
    meta = owned_meta(rundir, name)
    if not meta:
        return
    owner = meta[META_KEY]
    if owner.get("started") is not None and start_time(owner.get("pid")) == owner["started"]:
        return  # its create is still running
    if not full and state_dir_exists(owner, name):
        return
    ns = open_owned(rundir, name)
    gone = ns is None or container_gone(ns, owner, stopped_too=full)
    if ns is not None:
        ns.close()
    if gone:
        remove(rundir, name)


def state_dir_exists(owner, name):
    """runc and crun keep ROOT/ID while the container exists."""
    root = owner.get("root")
    if root is None:
        root = {"runc": "/run/runc", "crun": "/run/crun"}.get(os.path.basename(owner.get("runtime") or ""))
    return root is not None and os.path.isdir(os.path.join(root, name))


def container_gone(ns, owner, stopped_too=False):
    """Ask the real runtime, from inside NS (see main), whether the container is gone."""
    import subprocess

    owner = owner or {}
    real = owner.get("runtime") or "runc"
    argv = [*(["--root", owner["root"]] if owner.get("root") else []), "state", ns.name]
    helper_argv, env, fds = in_namespace(ns, real, argv)
    try:
        proc = subprocess.run(helper_argv, env=env, pass_fds=fds, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return not state_dir_exists(owner, ns.name)
    if proc.returncode != 0:
        return not state_dir_exists(owner, ns.name)
    if stopped_too:
        from ..jsontext import loads

        try:
            return loads(proc.stdout).get("status") == "stopped"
        except ValueError:
            return False
    return False
