"""What the runtime tests look at: the run directory and `timens` itself."""
import os
import subprocess
import sys
import time

YEAR_2038 = "@2038-01-19T03:14:07Z"
DAY = 86400


def leftovers(rundir):
    """Every namespace file, metadata file and page in the run directory."""
    found = []
    for sub in ("ns", "meta", "pages"):
        path = rundir / sub
        if path.exists():
            found += [f"{sub}/{name}" for name in os.listdir(path)]
    return sorted(found)


def timens(rundir, *args):
    env = {**os.environ, "TIMENS_RUNDIR": str(rundir)}
    return subprocess.run([sys.executable, "-m", "timens", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=60)


def listed_names(rundir):
    import json

    out = timens(rundir, "list", "--json")
    assert out.returncode == 0, out.stderr
    return {n["name"] for n in json.loads(out.stdout)["namespaces"] if n["name"]}


def host_uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def uptime_of(text):
    return float(text.split()[0])


def eventually(check, timeout=15):
    """CHECK() true within TIMEOUT s (an engine cleans up after it answers)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
