"""Shared fixtures: how tests run timens, compile C probes and isolate state.

Every test gets its own run directory (TIMENS_RUNDIR), so tests never see
each other's named namespaces or pages, and nothing is left in /run/timens.
"""
import subprocess
import sys
from pathlib import Path

import pytest

PROBES = Path(__file__).parent / "probes"
NATIVE = Path(__file__).parent.parent / "src" / "timens" / "native"


def write_at(path, offset, data):
    """Overwrite bytes of a file in place (as damage to a clock page would)."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def timens_argv(*args):
    """argv that runs the timens CLI of the package under test."""
    return [sys.executable, "-m", "timens", *map(str, args)]


@pytest.fixture
def rundir(tmp_path, monkeypatch):
    path = tmp_path / "run"
    monkeypatch.setenv("TIMENS_RUNDIR", str(path))
    return path


@pytest.fixture
def timens(rundir):
    """Run the timens CLI; returns CompletedProcess with text output."""

    def run(*args, check=False, **kwargs):
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 60)
        return subprocess.run(timens_argv(*args), check=check, **kwargs)

    return run


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("probes")


@pytest.fixture(scope="session")
def compile_probe(probe_dir):
    """Compile tests/probes/NAME.c once per session; returns the binary path."""
    built = {}

    def compile_(name, *extra):
        key = (name, extra)
        if key not in built:
            out = probe_dir / (name + ("-" + "-".join(e.strip("-") for e in extra) if extra else ""))
            cmd = ["gcc", "-O1", "-Wall", "-Werror", "-I", str(NATIVE), "-o", str(out),
                   str(PROBES / f"{name}.c"), *extra, "-lpthread", "-lrt"]
            subprocess.run(cmd, check=True)
            built[key] = out
        return built[key]

    return compile_


@pytest.fixture(scope="module")
def engine_rundir(tmp_path_factory):
    """The run directory of one container engine's tests (module-scoped, as
    the engine is); namespaces a failed test left mounted are unmounted."""
    from containers.engines import unmount_under

    path = tmp_path_factory.mktemp("rundir")
    yield path
    unmount_under(path)
