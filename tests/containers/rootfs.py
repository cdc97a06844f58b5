"""A tiny image: Debian's static busybox, plus a dynamically linked `date`
with the libraries ldd names, so that REALTIME (LD_PRELOAD) can be read,
and the glibc libraries libtimens.so links (libdl.so.2, libpthread.so.0:
where dlsym and pthread_* live before glibc 2.34), which every glibc image
has."""
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

BUSYBOX = "/usr/bin/busybox"
APPLETS = ("sh", "cat", "sleep", "readlink", "true", "echo", "env", "ls")
DYNAMIC_DATE = "/usr/bin/date"
LIBTIMENS = Path(__file__).resolve().parents[2] / "src" / "timens" / "native" / "libtimens.so"
# In the image, `date` alone is busybox's (its shell prefers applets):
# the glibc one is reached by path.
GLIBC_DATE = "/usr/bin/date"


def build(root):
    """Make the rootfs under ROOT/rootfs and ROOT/rootfs.tar; return both paths."""
    rootfs = Path(root) / "rootfs"
    for d in ("bin", "usr/bin", "proc", "sys", "dev", "etc", "tmp", "run"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    copy_with_libraries(DYNAMIC_DATE, rootfs)
    copy_libraries(LIBTIMENS, rootfs)  # the library itself is mounted by timens-runtime
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    tar = Path(root) / "rootfs.tar"
    with tarfile.open(tar, "w") as t:
        for entry in sorted(os.listdir(rootfs)):
            t.add(rootfs / entry, arcname=entry)
    return rootfs, tar


def copy_with_libraries(program, rootfs):
    copy_libraries(program, rootfs, [program])


def copy_libraries(program, rootfs, also=()):
    ldd = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=True).stdout
    for path in [*also, *re.findall(r"(/\S+) \(0x", ldd)]:
        target = rootfs / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(path), target)
