"""Build the native pieces of timens with the package's own build.

libtimens.so is the LD_PRELOAD library that gives REALTIME offsets;
libtimens-page.so is the clock page's writer alone (page_write.c, also
compiled into libtimens.so), which the Python package calls through ctypes;
timens-helper is the small program that creates, enters and reads a
namespace in a single-threaded process right before exec (setns on a time
namespace fails in a threaded process, and subprocess offers no safe hook);
timens-tracer (x86-64) gives REALTIME to static and Go programs by patching
their vDSO, with the freestanding code it injects (vdso/blob.c) built into
a flat image and embedded. All land inside the package, next to the
headers they share.

timens-runtime, the command engines run as their OCI runtime, is a small C
front end (runtime_front.c) that runs the real runtime itself when a call
needs no timens, and the Python implementation (the timens-runtime-py
script) otherwise. Scripts listed in pyproject.toml can only be Python,
so build_scripts takes it from build_ext and puts it next to the
`timens` script.
"""
import platform
import subprocess
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from distutils.command.build_scripts import build_scripts

NATIVE = Path("src/timens/native")
CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing"]
# Injected into any program, Go's runtime included: general registers only,
# no libc, no stack protector, and nothing that needs relocating.
BLOB_CFLAGS = ["-mgeneral-regs-only", "-fPIC", "-nostdlib", "-ffreestanding", "-fno-stack-protector",
               "-fno-jump-tables", "-fno-asynchronous-unwind-tables", "-fcf-protection=none"]


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
        if platform.machine() == "x86_64":
            self.build_tracer()

    def out_dir(self):
        out_dir = Path(self.build_lib if not self.inplace else "src", "timens", "native")
        out_dir.mkdir(parents=True, exist_ok=True)
        return out_dir

    def build_helper(self):
        objects = self.compiler.compile(
            [str(NATIVE / "helper.c")], output_dir=self.build_temp, extra_postargs=CFLAGS
        )
        self.compiler.link_executable(objects, "timens-helper", output_dir=str(self.out_dir()))
        objects = self.compiler.compile(
            [str(NATIVE / "runtime_front.c")], output_dir=self.build_temp, include_dirs=[str(NATIVE)],
            extra_postargs=CFLAGS,
        )
        self.compiler.link_executable(objects, "timens-runtime", output_dir=self.build_temp)
        self.front_end = str(Path(self.build_temp, "timens-runtime"))

    def build_blob(self):
        """vdso/blob.c as a flat image; refuse anything the injector would have to relocate."""
        temp = Path(self.build_temp).absolute()
        temp.mkdir(parents=True, exist_ok=True)
        obj, elf, image = temp / "blob.o", temp / "blob.elf", temp / "blob.bin"
        subprocess.run(["gcc", *CFLAGS, *BLOB_CFLAGS, "-I", str(NATIVE), "-c", str(NATIVE / "vdso" / "blob.c"),
                        "-o", str(obj)], check=True)
        relocs = subprocess.run(["readelf", "-rW", str(obj)], check=True, capture_output=True, text=True).stdout
        absolute = [line for line in relocs.splitlines() if "R_X86_64_" in line
                    and not any(kind in line for kind in ("R_X86_64_PC32", "R_X86_64_PLT32"))]
        if absolute:
            raise SystemExit(f"vdso/blob.c needs relocating, which injected code cannot: {absolute}")
        subprocess.run(["ld", "-T", str(NATIVE / "vdso" / "blob.ld"), "-o", str(elf), str(obj)], check=True)
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(elf), str(image)], check=True)
        return image

    def build_tracer(self):
        image = self.build_blob()
        sources = [str(NATIVE / "vdso" / name) for name in ("tracer.c", "patch.c", "remote.c", "trampoline.c")]
        objects = self.compiler.compile(
            sources, output_dir=self.build_temp, include_dirs=[str(NATIVE)],
            macros=[("TIMENS_BLOB_BIN", f'"{image}"')], extra_postargs=CFLAGS,
        )
        # Statically linked: timens-runtime mounts it into containers, whatever libc their image has.
        self.compiler.link_executable(objects, "timens-tracer", output_dir=str(self.out_dir()),
                                      extra_postargs=["-static"])


class BuildFrontEnd(build_scripts):
    """The scripts directory gets the front end that build_ext linked."""

    def run(self):
        super().run()
        self.run_command("build_ext")
        self.mkpath(self.build_dir)
        self.copy_file(self.get_finalized_command("build_ext").front_end, self.build_dir)


PAGE_WRITER = str(NATIVE / "page_write.c")
LIBRARIES = {"libtimens": "libtimens.so", "libtimens_page": "libtimens-page.so"}

libtimens = Extension(
    "timens.native.libtimens",
    sources=sorted(str(p) for p in (NATIVE / "libtimens").glob("*.c")) + [PAGE_WRITER],
    include_dirs=[str(NATIVE)],
    # libc_compat.h binds symbols to their oldest versions, so one build
    # loads under glibc >= 2.17 and musl; libdl and libpthread are named for
    # older glibcs, where those versions live (musl's loader maps both to itself).
    extra_compile_args=CFLAGS + ["-fvisibility=hidden", "-include", str(NATIVE / "libc_compat.h")],
    extra_link_args=["-Wl,--no-as-needed", "-l:libdl.so.2", "-l:libpthread.so.0", "-Wl,--as-needed"],
)

# No constructor and no interposers: loading it changes nothing in Python.
libtimens_page = Extension(
    "timens.native.libtimens_page",
    sources=[PAGE_WRITER],
    include_dirs=[str(NATIVE)],
    extra_compile_args=CFLAGS,
    extra_link_args=["-lpthread"],
)

setup(ext_modules=[libtimens, libtimens_page], cmdclass={"build_ext": BuildNative, "build_scripts": BuildFrontEnd})
