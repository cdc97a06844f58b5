"""timens.page: the clock page file, its layout and its write protocol."""
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import write_at

from timens import page as page_module
from timens.errors import TimensError
from timens.page import (NSEC_PER_SEC, OFF_MAGIC, OFF_SEQ, OFF_WAKE, PAGE_SIZE, ClockPage, PageBusy,
                         PageError, PageView, join_ns, page_path, split_ns)


def test_layout_is_the_c_compilers(compile_probe):
    out = subprocess.run([compile_probe("rt_layout")], capture_output=True, text=True,
                         check=True).stdout
    c_layout = dict(line.split(" ", 1) for line in out.splitlines())
    assert int(c_layout.pop("sizeof")) == PAGE_SIZE
    python_layout = {name: str(value) for name, value in page_module.LAYOUT.items()}
    assert python_layout == c_layout


@pytest.mark.parametrize("ns, parts", [
    (0, (0, 0)),
    (1, (0, 1)),
    (-1, (-1, NSEC_PER_SEC - 1)),
    (NSEC_PER_SEC, (1, 0)),
    (-NSEC_PER_SEC, (-1, 0)),
    (-3 * NSEC_PER_SEC - 5, (-4, NSEC_PER_SEC - 5)),
    (100 * 365 * 86400 * NSEC_PER_SEC + 7, (100 * 365 * 86400, 7)),
])
def test_split_and_join(ns, parts):
    assert split_ns(ns) == parts
    assert join_ns(*parts) == ns


def test_page_path(tmp_path):
    assert page_path(tmp_path, 4026531834) == str(tmp_path / "pages" / "4026531834")


def test_create_writes_a_whole_page(tmp_path):
    path = tmp_path / "page"
    with ClockPage.create(path, -5 * NSEC_PER_SEC - 1, mode=0o640) as page:
        assert page.read_realtime_offset() == -5 * NSEC_PER_SEC - 1
        assert page.generation == 0
    data = path.read_bytes()
    assert len(data) == PAGE_SIZE
    assert data[OFF_MAGIC:OFF_MAGIC + 4] == b"TMNS"
    assert path.stat().st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["page"]  # no temporary file left


def test_create_never_replaces(tmp_path):
    path = tmp_path / "page"
    ClockPage.create(path, 1).close()
    with pytest.raises(FileExistsError):
        ClockPage.create(path, 2)
    with ClockPage.open(path) as page:
        assert page.read_realtime_offset() == 1
    assert os.listdir(tmp_path) == ["page"]


def test_concurrent_creates_one_wins(tmp_path):
    path = tmp_path / "page"
    results = []

    def create(offset):
        try:
            ClockPage.create(path, offset).close()
            results.append(offset)
        except FileExistsError:
            results.append(None)

    threads = [threading.Thread(target=create, args=(i + 1,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and len(results) == 8
    assert os.listdir(tmp_path) == ["page"]
    with ClockPage.open(path) as page:
        assert page.read_realtime_offset() == winners[0]


def test_set_is_seen_by_other_openers_and_bumps_generation(tmp_path):
    with ClockPage.create(tmp_path / "page", 0) as writer, \
            ClockPage.open(tmp_path / "page", writable=False) as reader:
        for n, offset in enumerate([10**18, -(10**18) - 1, 123], start=1):
            writer.set_realtime_offset(offset)
            assert reader.read_realtime_offset() == offset
            assert reader.generation == n
        seq = int.from_bytes((tmp_path / "page").read_bytes()[OFF_SEQ:OFF_SEQ + 4], "little")
        assert seq == 6  # two steps per write, even at rest


def test_read_only_page_refuses_writes(tmp_path):
    ClockPage.create(tmp_path / "page", 0).close()
    with ClockPage.open(tmp_path / "page", writable=False) as page:
        with pytest.raises(PermissionError):
            page.set_realtime_offset(1)


def test_offset_out_of_range(tmp_path):
    with ClockPage.create(tmp_path / "page", 0) as page:
        with pytest.raises(OverflowError):
            page.set_realtime_offset(2**63 * NSEC_PER_SEC)
        assert page.read_realtime_offset() == 0


@pytest.mark.parametrize("damage, problem", [
    ((OFF_MAGIC, b"ABCD"), "bad magic"),
    ((4, (1).to_bytes(4, "little")), "version 1"),
])
def test_open_rejects_what_is_not_a_page(tmp_path, damage, problem):
    path = tmp_path / "page"
    ClockPage.create(path, 0).close()
    write_at(path, *damage)
    with pytest.raises(PageError, match=problem) as info:
        ClockPage.open(path)
    assert info.value.path == path and str(path) in str(info.value)


def test_open_rejects_a_short_file(tmp_path):
    path = tmp_path / "page"
    path.write_bytes(b"TMNS")
    with pytest.raises(PageError, match="4 bytes"):
        ClockPage.open(path)


def test_stuck_writer_is_reported_and_the_next_write_recovers(tmp_path):
    path = tmp_path / "page"
    with ClockPage.create(path, 5) as page:
        write_at(path, OFF_SEQ, (3).to_bytes(4, "little"))  # a writer died inside
        with pytest.raises(PageError, match="mid-update"):
            page.read_realtime_offset()
        page.set_realtime_offset(7)
        assert page.read_realtime_offset() == 7
        seq = int.from_bytes(path.read_bytes()[OFF_SEQ:OFF_SEQ + 4], "little")
        assert seq % 2 == 0 and seq > 3


def test_close_is_idempotent(tmp_path):
    page = ClockPage.create(tmp_path / "page", 0)
    page.close()
    page.close()
    assert "closed" in repr(page)


def test_import_stays_light():
    """No heavy module at import: ctypes only once a page is opened."""
    code = "import sys, timens.page; print('ctypes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


# --- operations: freeze, unfreeze, advance, read --------------------------------

def host_now():
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


def test_read_shows_everything_and_every_write_bumps_generation(tmp_path):
    with ClockPage.create(tmp_path / "page", 7, ns_id=42) as page:
        view = page.read()
        assert view == PageView(frozen=False, realtime_offset_ns=7, frozen_at_ns=None,
                                monotonic_ns=0, boottime_ns=0, ns_id=42, generation=0)
        page.advance(5)
        page.freeze(10**18)
        page.set_realtime_offset(3)
        page.unfreeze()
        assert page.read().generation == page.generation == 4
        assert int.from_bytes((tmp_path / "page").read_bytes()[OFF_WAKE:OFF_WAKE + 4], "little") == 4


def test_freeze_unfreeze_runs_on_from_the_frozen_instant(tmp_path):
    with ClockPage.create(tmp_path / "page", 10**12) as page:
        page.freeze(5 * 10**18)
        view = page.read()
        assert view.frozen and view.frozen_at_ns == 5 * 10**18
        start = host_now()
        page.unfreeze()
        end = host_now()
        view = page.read()
        assert not view.frozen and view.frozen_at_ns is None
        assert 5 * 10**18 - end <= view.realtime_offset_ns <= 5 * 10**18 - start


def test_freeze_now_keeps_what_it_reads(tmp_path):
    with ClockPage.create(tmp_path / "page", 10**15) as page:
        start = host_now()
        page.freeze()
        end = host_now()
        frozen_at = page.read().frozen_at_ns
        assert start + 10**15 <= frozen_at <= end + 10**15
        page.freeze()  # frozen already: stays where it is
        assert page.read().frozen_at_ns == frozen_at


def test_set_offset_while_frozen_moves_the_frozen_instant(tmp_path):
    with ClockPage.create(tmp_path / "page", 0) as page:
        page.freeze(10**18)
        start = host_now()
        page.set_realtime_offset(-NSEC_PER_SEC)
        end = host_now()
        view = page.read()
        assert view.frozen and start - NSEC_PER_SEC <= view.frozen_at_ns <= end - NSEC_PER_SEC


def test_advance_moves_every_clock_forward(tmp_path):
    with ClockPage.create(tmp_path / "page", 100) as page:
        page.advance(3 * NSEC_PER_SEC + 1)
        view = page.read()
        assert (view.realtime_offset_ns, view.monotonic_ns, view.boottime_ns) == (
            3 * NSEC_PER_SEC + 101, 3 * NSEC_PER_SEC + 1, 3 * NSEC_PER_SEC + 1)
        page.freeze(10**18)
        page.advance(NSEC_PER_SEC)
        assert page.read().frozen_at_ns == 10**18 + NSEC_PER_SEC
        with pytest.raises(ValueError):
            page.advance(-1)
        assert page.read().monotonic_ns == 4 * NSEC_PER_SEC + 1


def test_advance_wakes_futex_waiters_in_other_processes(tmp_path, compile_probe):
    with ClockPage.create(tmp_path / "page", 0) as page:
        waiter = subprocess.Popen([compile_probe("rt_page"), "futex"], stdout=subprocess.PIPE,
                                  text=True, env=dict(os.environ, TIMENS_PAGE=str(page.path)))
        try:
            assert waiter.stdout.readline() == "waiting\n"
            time.sleep(0.2)  # into FUTEX_WAIT; if not yet, it sees the change instead
            page.advance(1)
            assert waiter.stdout.readline() in ("woken\n", "changed\n")
            assert waiter.wait(timeout=20) == 0
        finally:
            waiter.kill()
            waiter.wait()


def test_errors_are_timens_errors(tmp_path):
    assert issubclass(PageError, TimensError) and issubclass(PageBusy, PageError)


def test_busy_lock_gives_page_busy(tmp_path):
    import fcntl

    with ClockPage.create(tmp_path / "page", 0) as page:
        holder = os.open(tmp_path / "page", os.O_RDONLY)
        try:
            fcntl.flock(holder, fcntl.LOCK_EX)
            start = time.monotonic()
            with pytest.raises(PageBusy):
                page.set_realtime_offset(1)
            assert time.monotonic() - start < 30
        finally:
            os.close(holder)
        page.set_realtime_offset(1)
        assert page.read_realtime_offset() == 1


def test_open_does_not_hang_on_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "page")
    with pytest.raises(PageError, match="not a regular file"):
        ClockPage.open(tmp_path / "page", writable=False)
