"""The run directory: named namespaces, their metadata and the clock pages.

    <rundir>/ns/NAME          bind mount of the namespace file, as /run/netns
    <rundir>/meta/NAME.json   what timens knows of NAME (written atomically)
    <rundir>/pages/INODE      clock page of the namespace with that inode

Default /run/timens for root, $XDG_RUNTIME_DIR/timens otherwise (falling
back to /tmp/timens-UID, made 0700 and checked to be ours); TIMENS_RUNDIR
overrides. Files are only ever created inside it.
"""
import os
import stat
from pathlib import Path

from . import errors
from .page import DEFAULT_RUNDIR, PAGES_SUBDIR, page_path

NAME_MAX = 64


def default_rundir():
    if "TIMENS_RUNDIR" in os.environ:
        return Path(os.environ["TIMENS_RUNDIR"]).absolute()
    if os.geteuid() == 0:
        return Path(DEFAULT_RUNDIR)
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"], "timens")
    return Path(f"/tmp/timens-{os.getuid()}")


def validate_name(name):
    """Refuse names that are empty, too long, or could escape the directory."""
    if not name:
        raise errors.BadValue("namespace name is empty")
    if len(name.encode(errors="surrogateescape")) > NAME_MAX:
        raise errors.BadValue(f"namespace name {name[:20]!r}... is longer than {NAME_MAX} bytes")
    if name in (".", "..") or "/" in name or "\0" in name or name.startswith("-"):
        raise errors.BadValue(f"invalid namespace name {name!r}: no '/', '.', '..' or leading '-'")
    if not name.isprintable() or any(c.isspace() for c in name):
        raise errors.BadValue(f"invalid namespace name {name!r}: no spaces or control characters")
    if name.startswith("("):
        raise errors.BadValue(f"invalid namespace name {name!r}: '(' starts the labels timens shows, as (host)")
    return name


class RunDir:
    def __init__(self, path=None):
        self.path = Path(path) if path else default_rundir()

    @property
    def ns_dir(self):
        return self.path / "ns"

    @property
    def meta_dir(self):
        return self.path / "meta"

    @property
    def pages_dir(self):
        return self.path / PAGES_SUBDIR

    def ns_file(self, name):
        return self.ns_dir / validate_name(name)

    def meta_file(self, name):
        return self.meta_dir / (validate_name(name) + ".json")

    def page_file(self, inode):
        return page_path(self.path, inode)

    def ensure(self, *subdirs):
        """Create the run directory (and subdirs) if needed, owned by us."""
        private = "TIMENS_RUNDIR" not in os.environ and str(self.path).startswith("/tmp/")
        for path in (self.path, *(getattr(self, d) for d in subdirs)):
            try:
                path.mkdir(mode=0o700 if private else 0o755, parents=path == self.path, exist_ok=True)
            except OSError as err:
                raise errors.PermissionDenied(
                    f'cannot create run directory "{path}": {err.strerror}; '
                    "set TIMENS_RUNDIR to a writable directory"
                ) from err
        if private:
            info = self.path.lstat()
            if info.st_uid != os.getuid() or not stat.S_ISDIR(info.st_mode):
                raise errors.PermissionDenied(f'run directory "{self.path}" is not a directory owned by you')

    def names(self):
        try:
            return sorted(e.name for e in os.scandir(self.ns_dir))
        except FileNotFoundError:
            return []

    def read_meta(self, name):
        import json

        try:
            return json.loads(self.meta_file(name).read_text())
        except (OSError, ValueError):
            return {}

    def write_meta(self, name, data):
        """Write NAME's metadata atomically: a temporary file, then rename."""
        import json

        self.ensure("meta_dir")
        final = self.meta_file(name)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def remove_meta(self, name):
        self.meta_file(name).unlink(missing_ok=True)
