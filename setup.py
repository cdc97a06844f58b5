"""Build the two native pieces of timens with the package's own build.

libtimens.so is the LD_PRELOAD library that gives REALTIME offsets;
timens-helper is the small program that creates, enters and reads a
namespace in a single-threaded process right before exec (setns on a time
namespace fails in a threaded process, and subprocess offers no safe hook).
Both land inside the package, next to the header they share.
"""
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE = Path("src/timens/native")
CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing"]


class BuildNative(build_ext):
    """Name the library libtimens.so (not a CPython module) and link the helper."""

    def get_ext_filename(self, fullname):
        # Called with the dotted name by setuptools and with the last part
        # alone by distutils; both must map to the same plain file name.
        *package, name = fullname.split(".")
        if name == "libtimens":
            return str(Path(*package, "libtimens.so"))
        return super().get_ext_filename(fullname)

    def get_export_symbols(self, ext):
        return []  # no PyInit_*: this is a plain shared library

    def run(self):
        super().run()
        self.build_helper()

    def build_helper(self):
        out_dir = Path(self.build_lib if not self.inplace else "src", "timens", "native")
        out_dir.mkdir(parents=True, exist_ok=True)
        objects = self.compiler.compile(
            [str(NATIVE / "helper.c")], output_dir=self.build_temp, extra_postargs=CFLAGS
        )
        self.compiler.link_executable(objects, "timens-helper", output_dir=str(out_dir))


libtimens = Extension(
    "timens.native.libtimens",
    sources=sorted(str(p) for p in (NATIVE / "libtimens").glob("*.c")),
    include_dirs=[str(NATIVE)],
    # libc_compat.h binds symbols to their oldest versions, so one build
    # loads under glibc >= 2.17 and musl; libdl is named for glibc < 2.34,
    # where dlsym lives there (musl's loader maps it to itself).
    extra_compile_args=CFLAGS + ["-fvisibility=hidden", "-include", str(NATIVE / "libc_compat.h")],
    extra_link_args=["-Wl,--no-as-needed", "-l:libdl.so.2", "-Wl,--as-needed", "-lpthread"],
)

setup(ext_modules=[libtimens], cmdclass={"build_ext": BuildNative})
