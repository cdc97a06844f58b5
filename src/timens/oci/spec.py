"""What an OCI config asks of the clocks, and the config the real runtime sees.

A container asks for clocks in three ways, read in this order (the first
one that names a clock wins for that clock):

1. annotations io.timens.monotonic / .boottime / .realtime (Podman
   --annotation, Kubernetes pod annotations, ctr --annotation);
2. process.env TIMENS_MONOTONIC / _BOOTTIME / _REALTIME (docker run -e);
3. linux.timeOffsets with a {"type": "time"} namespace, the spec's own field,
   which Debian's runc 1.1 refuses and crun 1.8.1 ignores.

Values are read as `timens create` reads them. The config is rewritten so
that it asks for nothing a runc 1.1 refuses, and so that rewriting it again
gives the same config (an engine may create twice from one bundle).
"""
import os

from .. import jsontext

CLOCKS = ("monotonic", "boottime", "realtime")
ANNOTATION = "io.timens."
ENV = "TIMENS_"
KERNEL_CLOCKS = ("monotonic", "boottime")

# Where the container finds the library and its namespace's page.
MOUNT_DIR = "/run/timens"
LIBRARY_IN_CONTAINER = f"{MOUNT_DIR}/libtimens.so"
PAGE_IN_CONTAINER = f"{MOUNT_DIR}/page"
TRACER_IN_CONTAINER = f"{MOUNT_DIR}/timens-tracer"  # statically linked: runs in any image
MOUNT_OPTIONS = ["rbind", "ro", "nosuid", "nodev"]  # not noexec: the library is mapped executable


class Request(dict):
    """{clock: value string} a config asks for, with where each came from
    (for error messages); a time namespace asked for with no offsets is an
    empty but true request."""

    def __init__(self, values, sources, wanted):
        super().__init__(values)
        self.sources = sources
        self.wanted = wanted

    def __bool__(self):
        return self.wanted


def load(path):
    with open(path) as f:
        return jsontext.loads(f.read())


def parse(data):
    spec = jsontext.loads(data)
    if not isinstance(spec, dict):
        raise ValueError("not an OCI config")
    return spec


def save(path, spec):
    """Write SPEC atomically next to PATH, keeping PATH's mode."""
    tmp = f"{path}.timens.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(jsontext.dumps(spec))
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def env_dict(env):
    return dict(entry.partition("=")[::2] for entry in env or [])


def time_namespace(spec):
    for ns in (spec.get("linux") or {}).get("namespaces") or []:
        if ns.get("type") == "time":
            return ns
    return None


def clock_request(spec):
    """The clocks SPEC asks for, as a Request (false when it asks for none)."""
    annotations = spec.get("annotations") or {}
    env = env_dict((spec.get("process") or {}).get("env"))
    offsets = (spec.get("linux") or {}).get("timeOffsets") or {}
    own_ns = time_namespace(spec)
    values, sources = {}, {}
    for clock in CLOCKS:
        if ANNOTATION + clock in annotations:
            values[clock], sources[clock] = annotations[ANNOTATION + clock], f"annotation {ANNOTATION}{clock}"
        elif ENV + clock.upper() in env:
            values[clock], sources[clock] = env[ENV + clock.upper()], f"environment {ENV}{clock.upper()}"
        elif own_ns is not None and clock in offsets:
            values[clock], sources[clock] = offset_value(offsets[clock]), f"linux.timeOffsets.{clock}"
    return Request(values, sources, bool(values) or (own_ns is not None and not own_ns.get("path")))


def offset_value(entry):
    """An OCI timeOffsets entry ({"secs", "nanosecs"}) as an offset string."""
    try:
        total = int(entry.get("secs", 0)) * 1_000_000_000 + int(entry.get("nanosecs", 0))
    except (AttributeError, TypeError, ValueError):
        return repr(entry)  # refused with the clock's name, as any bad value is
    return f"{total:+d}ns"


def for_real_runtime(spec, request, page, vdso_patch=False):
    """The config the real runtime runs: SPEC without the time namespace,
    with the clocks kept as annotations, CAP_SYS_TIME dropped and, with a
    PAGE, the library and the page mounted and preloaded and, with
    VDSO_PATCH, the process started under timens-tracer."""
    spec = jsontext.loads(jsontext.dumps(spec))
    linux = spec.setdefault("linux", {})
    linux["namespaces"] = [ns for ns in linux.get("namespaces") or [] if ns.get("type") != "time"]
    linux.pop("timeOffsets", None)
    annotations = spec.setdefault("annotations", {})
    for clock, value in request.items():
        annotations[ANNOTATION + clock] = value
    process = spec.setdefault("process", {})
    drop_sys_time(process)
    ours = (LIBRARY_IN_CONTAINER, PAGE_IN_CONTAINER, TRACER_IN_CONTAINER)
    mounts = [m for m in spec.get("mounts") or [] if m.get("destination") not in ours]
    if page is not None:
        from .. import vdso
        from ..kernel import LIBTIMENS

        mounts += [bind(LIBTIMENS, LIBRARY_IN_CONTAINER), bind(page, PAGE_IN_CONTAINER)]
        preload_env(process)
        if vdso_patch:
            mounts.append(bind(vdso.TRACER, TRACER_IN_CONTAINER))
            process["args"] = traced_args(process.get("args") or [])
    spec["mounts"] = mounts
    return spec


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def program_in_image(spec, bundle):
    """Is the process's program an executable file in the image under
    BUNDLE (found as the runtime's PATH lookup finds it, symlinks resolved
    inside the root)? If not, the container does not get the vDSO patch, so
    that the real runtime says the program is missing, as without timens."""
    process = spec.get("process") or {}
    args = process.get("args") or []
    root = os.path.join(bundle, (spec.get("root") or {}).get("path") or "rootfs")
    if not args or not args[0]:
        return False
    program = args[0]
    if "/" in program:
        candidates = [program if program.startswith("/") else os.path.join(process.get("cwd") or "/", program)]
    else:
        path = env_dict(process.get("env")).get("PATH", DEFAULT_PATH)
        candidates = [os.path.join(d or "/", program) for d in path.split(":")]
    for candidate in candidates:
        found = inside_root(root, candidate)
        if found and os.path.isfile(found) and os.access(found, os.X_OK):
            return True
    return False


def inside_root(root, path, hops=40):
    """PATH as seen with ROOT as /: symlinks followed inside ROOT; None if looping."""
    parts, resolved = [p for p in path.split("/") if p not in ("", ".")], []
    while parts:
        part = parts.pop(0)
        if part == "..":
            resolved = resolved[:-1]
            continue
        here = os.path.join(root, *resolved, part)
        if os.path.islink(here):
            hops -= 1
            if hops < 0:
                return None
            target = os.readlink(here)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


# What goes before a container's command: timens-tracer patches the vDSO of
# every program the command execs, so static and Go programs read the page.
TRACER_WORDS = (TRACER_IN_CONTAINER, "run", PAGE_IN_CONTAINER, "--")


def traced_args(args):
    """ARGS started under timens-tracer; once."""
    if not args or args[0] == TRACER_IN_CONTAINER:
        return list(args)
    return [*TRACER_WORDS, *args]


def bind(source, destination):
    return {"destination": destination, "type": "bind", "source": str(source), "options": list(MOUNT_OPTIONS)}


def preload_env(process):
    """Set LD_PRELOAD and TIMENS_PAGE in an OCI process (config or exec)."""
    env = [e for e in process.get("env") or [] if not e.startswith("TIMENS_PAGE=")]
    preload = []
    for i, entry in enumerate(env):
        if entry.startswith("LD_PRELOAD="):
            preload = [p for p in entry[len("LD_PRELOAD="):].replace(":", " ").split() if p != LIBRARY_IN_CONTAINER]
            del env[i]
            break
    env += [f"LD_PRELOAD={' '.join([LIBRARY_IN_CONTAINER, *preload])}", f"TIMENS_PAGE={PAGE_IN_CONTAINER}"]
    process["env"] = env


def drop_sys_time(process):
    """No process of a container with its own clocks may set the host's:
    timens-runtime runs the real runtime without CAP_SYS_TIME, so asking
    for it would fail the container (as --privileged does)."""
    caps = process.get("capabilities") or {}
    for key, names in caps.items():
        if isinstance(names, list):
            caps[key] = [c for c in names if c != "CAP_SYS_TIME"]
