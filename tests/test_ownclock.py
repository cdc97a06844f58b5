"""OwnClock and timens_attach_page: a running process switches to a page of its own."""
import os
import subprocess
import sys

from timens import kernel
from timens.page import ClockPage

NS = 10**9
Y2030 = 1893456000 * NS  # 2030-01-01T00:00:00Z

CHILD = """
import ctypes, errno, os, subprocess, sys, time
from timens.ownclock import OwnClock

attach = ctypes.CDLL(None).timens_attach_page
assert attach(b"relative/page") == -errno.EINVAL
assert attach(b"/nonexistent/page") == -errno.ENOENT
assert attach(sys.argv[1].encode()) == -errno.EINVAL  # a file that is no page
assert attach(sys.argv[3].encode()) == -errno.EINVAL  # a FIFO: refused, not waited on
inherited = os.environ["TIMENS_PAGE"]
assert abs(time.time_ns() - 1000 * 86400 * 10**9 - int(sys.argv[2])) < 60 * 10**9  # the parent's page

clock = OwnClock.attach()
assert os.environ["TIMENS_PAGE"] != inherited
clock.move_to("@2030-01-01T00:00:00Z", tick=False)
grandchild = subprocess.run(["date", "-u", "+%s%N"], capture_output=True, text=True, check=True).stdout
print(time.time_ns(), int(grandchild), clock.directory)
clock.close()
"""


def test_a_process_switches_to_a_page_of_its_own(tmp_path):
    parent_page = tmp_path / "parent"
    ClockPage.create(parent_page, 1000 * 86400 * NS).close()  # REALTIME + 1000 days
    not_a_page = tmp_path / "not-a-page"
    not_a_page.write_bytes(b"x" * 8192)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    env = {**os.environ, "LD_PRELOAD": str(kernel.LIBTIMENS), "TIMENS_PAGE": str(parent_page)}
    env.pop("TIMENS_PAGE_OWNER", None)
    host_now = subprocess.run(["date", "+%s%N"], capture_output=True, text=True, check=True).stdout.strip()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(not_a_page), host_now, str(fifo)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    own, grandchild, directory = proc.stdout.split()
    assert int(own) == int(grandchild) == Y2030
    assert not os.path.exists(directory), "the private page is removed with the clock"
    with ClockPage.open(parent_page, writable=False) as page:
        view = page.read()
    assert not view.frozen and view.generation == 0, "the inherited page is not touched"
