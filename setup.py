"""Build the native pieces of timens with the package's own build.

libtimens.so is the LD_PRELOAD library that gives REALTIME offsets;
libtimens-page.so is the clock page's writer alone (page_write.c, also
compiled into libtimens.so), which the Python package calls through ctypes;
timens-helper is the small program that creates, enters and reads a
namespace in a single-threaded process right before exec (setns on a time
namespace fails in a threaded process, and subprocess offers no safe hook).
Both land inside the package, next to the header they share.

timens-runtime, the command engines run as their OCI runtime, is a small C
front end (runtime_front.c) that runs the real runtime itself when a call
needs no timens, and the Python implementation (the timens-runtime-py
console script) otherwise. Console scripts can only be Python, so it is
built as the package's one script: build_scripts takes it from build_ext.
"""
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from distutils.command.build_scripts import build_scripts

NATIVE = Path("src/timens/native")
CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing"]


class BuildNative(build_ext):
    """Name the libraries libtimens*.so (not CPython modules) and link the helper."""

    def get_ext_filename(self, fullname):
        # Called with the dotted name by setuptools and with the last part
        # alone by distutils; both must map to the same plain file name.
        *package, name = fullname.split(".")
        if name in LIBRARIES:
            return str(Path(*package, LIBRARIES[name]))
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
        objects = self.compiler.compile(
            [str(NATIVE / "runtime_front.c")], output_dir=self.build_temp, include_dirs=[str(NATIVE)],
            extra_postargs=CFLAGS,
        )
        self.compiler.link_executable(objects, "timens-runtime", output_dir=self.build_temp)
        self.front_end = str(Path(self.build_temp, "timens-runtime"))


class BuildFrontEnd(build_scripts):
    """The scripts directory gets the front end that build_ext linked."""

    def run(self):
        self.run_command("build_ext")
        self.mkpath(self.build_dir)
        self.copy_file(self.get_finalized_command("build_ext").front_end, self.build_dir)


PAGE_WRITER = str(NATIVE / "page_write.c")
LIBRARIES = {"libtimens": "libtimens.so", "libtimens_page": "libtimens-page.so"}

libtimens = Extension(
    "timens.native.libtimens",
    sources=sorted(str(p) for p in (NATIVE / "libtimens").glob("*.c")) + [PAGE_WRITER],
    include_dirs=[str(NATIVE)],
    extra_compile_args=CFLAGS + ["-fvisibility=hidden"],
    extra_link_args=["-ldl", "-lpthread"],
)

# No constructor and no interposers: loading it changes nothing in Python.
libtimens_page = Extension(
    "timens.native.libtimens_page",
    sources=[PAGE_WRITER],
    include_dirs=[str(NATIVE)],
    extra_compile_args=CFLAGS,
    extra_link_args=["-lpthread"],
)

setup(
    ext_modules=[libtimens, libtimens_page],
    cmdclass={"build_ext": BuildNative, "build_scripts": BuildFrontEnd},
    scripts=[str(NATIVE / "runtime_front.c")],  # built, not copied: see BuildFrontEnd
)
