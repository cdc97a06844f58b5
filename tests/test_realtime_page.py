"""timens.page: the clock page file, its layout and its write protocol."""
import os
import subprocess
import sys
import threading

import pytest

from conftest import write_at

from timens import page as page_module
from timens.page import (NSEC_PER_SEC, OFF_MAGIC, OFF_SEQ, PAGE_SIZE, ClockPage, PageError,
                         join_ns, page_path, split_ns)


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
    assert page_path(tmp_path, 4026531834) == tmp_path / "pages" / "4026531834"


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
