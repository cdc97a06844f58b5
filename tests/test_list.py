"""`timens list` finds every time namespace, whoever made it, with the right
processes and offsets, when there are many at once."""
import json
import os
import signal
import subprocess
import sys
import time

NS = 10**9
BASE = 54000  # MONOTONIC offsets in seconds, distinct from other tests'

HOLD_FOR_CHILDREN = """
import ctypes, sys, time
if ctypes.CDLL(None, use_errno=True).unshare(0x80) != 0:  # CLONE_NEWTIME
    sys.exit("unshare failed")
with open("/proc/self/timens_offsets", "w") as f:
    f.write(f"monotonic {sys.argv[1]} 0")
print("ready", flush=True)
time.sleep(60)
"""


def listing(timens):
    return json.loads(timens("list", "--json", check=True).stdout)["namespaces"]


def by_offset(namespaces):
    return {n["offsets"]["monotonic_ns"] // NS - BASE: n for n in namespaces
            if n["offsets"]["monotonic_ns"] is not None and 0 <= n["offsets"]["monotonic_ns"] // NS - BASE < 100}


def start(argv, **kwargs):
    """A process in a session of its own, so that killpg ends all it started."""
    return subprocess.Popen(argv, start_new_session=True, **kwargs)


def test_list_finds_many_namespaces_of_every_kind(timens):
    procs = []
    try:
        # 0..24: made by util-linux, one sleeping process in each
        for i in range(25):
            procs.append(start(["unshare", "--time", "--fork", "--kill-child",
                                           "--monotonic", str(BASE + i), "sleep", "60"]))
        # 30: three processes in one namespace
        procs.append(start(["unshare", "--time", "--fork", "--kill-child", "--monotonic",
                                       str(BASE + 30), "sh", "-c", "sleep 60 & sleep 60 & wait"]))
        # 40: nobody inside; only its maker holds it for its children (an exec
        # would move the maker in, so it sleeps in Python)
        procs.append(start([sys.executable, "-c", HOLD_FOR_CHILDREN, str(BASE + 40)],
                                      stdout=subprocess.PIPE))
        assert procs[-1].stdout.readline() == b"ready\n"
        # a named namespace with a page and no process at all
        assert timens("create", "quiet", "--realtime", "+1d", "--boottime", "+2d").returncode == 0
        deadline = time.monotonic() + 10
        while True:
            found = by_offset(listing(timens))
            if len(found) == 27 and found.get(30, {}).get("processes") == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)

        assert sorted(found) == [*range(25), 30, 40], found
        for i in range(25):
            ns = found[i]
            assert ns["processes"] == 1 and "sleep 60" in ns["command"] and not ns["host"], ns
            assert ns["offsets"]["boottime_ns"] == 0 and ns["offsets"]["realtime_ns"] is None
        assert found[30]["processes"] == 3 and found[30]["command"].startswith("sh -c")
        assert found[40]["processes"] == 0 and found[40]["pid"] is None
        assert len({ns["inode"] for ns in found.values()}) == 27

        namespaces = listing(timens)
        (quiet,) = [n for n in namespaces if n["name"] == "quiet"]
        assert quiet["offsets"] == {"monotonic_ns": 0, "boottime_ns": 2 * 86400 * NS, "realtime_ns": 86400 * NS}
        assert quiet["processes"] == 0
        (host,) = [n for n in namespaces if n["host"]]
        assert host["offsets"]["monotonic_ns"] == 0 and host["processes"] > 1
        assert namespaces[0]["host"], "host first"
        inodes = [n["inode"] for n in namespaces[1:]]
        assert inodes == sorted(inodes) and len(set(inodes)) == len(inodes)
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)
        for p in procs:
            p.wait()
        timens("delete", "quiet")



def test_list_shows_a_page_only_for_the_namespace_it_was_made_for(timens, rundir):
    """A page is named by an inode, and the kernel reuses inodes: list shows a
    page's REALTIME only if the page carries the namespace's kernel id, and
    sweeps pages of other (or gone) namespaces."""
    from timens.kernel import ns_id
    from timens.page import ClockPage, page_path

    procs = [start(["unshare", "--time", "--fork", "--kill-child", "--monotonic", str(BASE + i), "sleep", "60"])
             for i in (50, 51)]
    try:
        deadline = time.monotonic() + 10
        while len(found := by_offset(listing(timens))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        mine, other = found[50], found[51]
        with open(f"/proc/{mine['pid']}/ns/time") as f:
            mine_id = ns_id(f.fileno())
        (rundir / "pages").mkdir(parents=True)
        ClockPage.create(page_path(rundir, mine["inode"]), 86400 * NS, ns_id=mine_id).close()
        ClockPage.create(page_path(rundir, other["inode"]), 86400 * NS, ns_id=mine_id).close()
        gone = page_path(rundir, 1)  # no time namespace has inode 1
        ClockPage.create(gone, 86400 * NS, ns_id=mine_id).close()

        found = by_offset(listing(timens))
        assert found[50]["offsets"]["realtime_ns"] == 86400 * NS
        assert found[51]["offsets"]["realtime_ns"] is None, "a page made for another namespace"
        assert sorted(p.name for p in (rundir / "pages").iterdir()) == [str(mine["inode"])]
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)
        for p in procs:
            p.wait()
