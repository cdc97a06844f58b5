"""The pytest plugin (pytest --timens), run through pytester in subprocesses.

Each inner run is a real pytest started as a command: the plugin restarts
it with libtimens.so, so what the inner tests read is what a user's tests
read: Python, OpenSSL, sqlite and subprocesses alike.
"""
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

def run_inner(pytester, *args):
    return pytester.runpytest_subprocess("--timens", "-p", "no:cacheprovider", *args)


def test_moves_reach_python_sqlite_and_subprocesses(pytester):
    pytester.makepyfile(
        """
        from timens.travel import host_realtime_ns  # the host's REALTIME, around libtimens.so
        import datetime, os, sqlite3, subprocess, sys, time

        def years():
            py = datetime.datetime.now(datetime.timezone.utc).year
            db = sqlite3.connect(":memory:").execute("SELECT CURRENT_TIMESTAMP").fetchone()[0]
            date = subprocess.run(["date", "-u", "+%Y"], capture_output=True, text=True, check=True).stdout
            child = subprocess.run([sys.executable, "-c", "import time; print(time.gmtime().tm_year)"],
                                   capture_output=True, text=True, check=True).stdout
            return py, int(db[:4]), int(date), int(child)

        def test_move_to(timens_clock):
            timens_clock.move_to("@2038-01-19T03:14:07Z")
            assert years() == (2038, 2038, 2038, 2038)

        def test_next_test_is_back_at_real_time():
            assert abs(time.time_ns() - host_realtime_ns()) < 5 * 10**9
            real = time.gmtime(host_realtime_ns() // 10**9).tm_year
            assert years() == (real,) * 4
        """
    )
    result = run_inner(pytester, "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_shift_and_marker(pytester):
    pytester.makepyfile(
        """
        from timens.travel import host_realtime_ns  # the host's REALTIME, around libtimens.so
        import datetime, subprocess, time, pytest

        def test_shift(timens_clock):
            before = time.time()
            timens_clock.shift("+1d")
            timens_clock.shift(3600)
            assert 90000 <= time.time() - before < 90060

        @pytest.mark.timens(realtime="@2030-06-01T12:00:00Z", freeze=True)
        def test_marker_freezes():
            first = time.time_ns()
            out = subprocess.run(["date", "-u", "+%s%N"], capture_output=True, text=True, check=True).stdout
            assert first == int(out) == 1906545600 * 10**9

        def test_marker_undone():
            assert abs(time.time_ns() - host_realtime_ns()) < 5 * 10**9

        before = {}

        def child_monotonic():
            out = subprocess.run(["python3", "-c", "import time; print(time.monotonic_ns())"],
                                 capture_output=True, text=True, check=True).stdout
            return int(out)

        def test_advance(timens_clock):
            before["monotonic"], before["realtime"] = time.monotonic_ns(), time.time_ns()
            timens_clock.advance("1h")
            assert time.monotonic_ns() - before["monotonic"] >= 3600 * 10**9
            assert child_monotonic() - before["monotonic"] >= 3600 * 10**9
            assert time.time_ns() - before["realtime"] >= 3600 * 10**9

        def test_advance_of_monotonic_stays_realtime_does_not():
            assert time.monotonic_ns() - before["monotonic"] >= 3600 * 10**9
            assert abs(time.time_ns() - host_realtime_ns()) < 5 * 10**9
        """
    )
    run_inner(pytester, "-p", "no:randomly").assert_outcomes(passed=5)


def test_freeze_across_processes_and_unfreeze_continuity(pytester):
    pytester.makepyfile(
        """
        from timens.travel import host_realtime_ns  # the host's REALTIME, around libtimens.so
        import subprocess, sys, time

        def child_now():
            out = subprocess.run([sys.executable, "-c", "import time; print(time.time_ns())"],
                                 capture_output=True, text=True, check=True).stdout
            return int(out)

        def test_freeze(timens_clock):
            timens_clock.freeze("@2030-01-01T00:00:00Z")
            frozen = 1893456000 * 10**9
            time.sleep(0.05)
            assert time.time_ns() == child_now() == frozen
            assert timens_clock.frozen
            timens_clock.unfreeze()
            # Runs on from the frozen instant: 2030, not host time + an old offset.
            after = time.time_ns()
            assert frozen <= after < frozen + 60 * 10**9
            assert child_now() >= after

        def test_freeze_now_then_unfreeze(timens_clock):
            timens_clock.freeze()
            stopped = time.time_ns()
            assert child_now() == stopped == time.time_ns()
            timens_clock.unfreeze()
            assert time.time_ns() >= stopped
        """
    )
    run_inner(pytester).assert_outcomes(passed=2)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost, valid for 30 days from now."""
    where = tmp_path_factory.mktemp("cert")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", where / "key.pem", "-out", where / "cert.pem", "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )
    return where / "cert.pem", where / "key.pem"


def test_tls_certificate_expires_after_shift(pytester, certificate):
    cert, key = certificate
    pytester.makepyfile(
        f"""
        import ssl, pytest

        def handshake():
            server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_ctx.load_cert_chain({str(cert)!r}, {str(key)!r})
            client_ctx = ssl.create_default_context(cafile={str(cert)!r})
            c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
            client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
            server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
            done = set()
            for _ in range(20):
                for name, end, inbox, outbox, peer_in in (("c", client, c_in, c_out, s_in),
                                                          ("s", server, s_in, s_out, c_in)):
                    if name not in done:
                        try:
                            end.do_handshake()
                            done.add(name)
                        except ssl.SSLWantReadError:
                            pass
                    peer_in.write(outbox.read())
                if done == {{"c", "s"}}:
                    return
            raise AssertionError("handshake did not finish")

        def test_valid_now():
            handshake()

        def test_expired_after_31_days(timens_clock):
            timens_clock.shift("+31d")
            with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
                handshake()

        def test_valid_again():
            handshake()
        """
    )
    run_inner(pytester, "-p", "no:randomly").assert_outcomes(passed=3)


def test_xdist_workers_have_a_clock_each(pytester):
    pytester.makepyfile(
        """
        import datetime, os, time
        from pathlib import Path

        def wait_for(path):
            for _ in range(3000):
                if path.exists():
                    return path.read_text()
                time.sleep(0.01)
            raise AssertionError(f"no {path.name} within 30 s (both tests on one worker?)")

        def test_a(timens_clock, tmp_path_factory):
            shared = tmp_path_factory.getbasetemp().parent
            timens_clock.move_to("@2038-01-19T03:14:07Z")
            (shared / "a_moved").write_text(os.environ["TIMENS_PAGE"])
            wait_for(shared / "b_checked")
            assert datetime.datetime.now().year == 2038

        def test_b(tmp_path_factory):
            shared = tmp_path_factory.getbasetemp().parent
            page_a = wait_for(shared / "a_moved")
            try:
                assert os.environ["TIMENS_PAGE"] != page_a
                assert datetime.datetime.now().year < 2038
            finally:
                (shared / "b_checked").write_text("")
        """
    )
    result = run_inner(pytester, "-n", "2", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_without_the_option_the_fixture_says_what_to_do(pytester):
    pytester.makepyfile(
        """
        def test_clock(timens_clock):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*timens_clock fixture needs the timens plugin on: run pytest --timens*"])


def test_pages_are_removed_at_exit(pytester, tmp_path, monkeypatch):
    """The controller's page and each worker's go with the run."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    pytester.makepyfile(
        """
        import os
        def test_page(timens_clock):
            assert os.environ["TIMENS_PAGE"].startswith(os.environ["TMPDIR"])
        """
    )
    run_inner(pytester, "-n", "2").assert_outcomes(passed=1)
    assert list(tmp_path.iterdir()) == []


def test_runs_as_the_pytest_command(pytester):
    """The restart keeps the interpreter and its arguments (the pytest script here)."""
    pytester.makepyfile("def test_x(timens_clock):\n    timens_clock.shift('+1y')\n")
    pytest_command = Path(sys.executable).parent / "pytest"
    proc = subprocess.run([pytest_command, "--timens", "-q", "-p", "no:cacheprovider"],
                          cwd=pytester.path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_time_machine_and_freezer_shapes(pytester):
    pytester.makepyfile(
        """
        import datetime, subprocess, time, pytest

        def year_of_child():
            return int(subprocess.run(["date", "-u", "+%Y"], capture_output=True, text=True).stdout)

        def test_time_machine(time_machine):
            time_machine.move_to(datetime.datetime(2031, 5, 1, 12, 0), tick=False)  # naive: UTC
            assert time.time() == 1935403200.0
            time_machine.shift(datetime.timedelta(days=1))
            assert time.time() == 1935403200.0 + 86400
            assert year_of_child() == 2031

        @pytest.mark.time_machine("2032-02-29T00:00:00Z")
        def test_time_machine_marker():
            assert datetime.datetime.now(datetime.timezone.utc).date() == datetime.date(2032, 2, 29)

        def test_freezer(freezer):
            first = time.time_ns()
            assert time.time_ns() == first
            freezer.tick(10)
            assert time.time_ns() == first + 10 * 10**9
            freezer.move_to(datetime.date(2033, 1, 1))
            assert year_of_child() == 2033

        @pytest.mark.freeze_time("2034-03-04 05:06")  # naive: UTC, as pytest-freezer reads it
        def test_freeze_time_marker():
            assert time.time() == time.time() == 2025061560.0

        def test_real_time_again():
            assert time.gmtime().tm_year < 2031
        """
    )
    pytester.makeini("[pytest]\ntimens = true\n")  # on from the ini file, no --timens
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=5)


def test_installed_time_machine_is_not_shadowed(pytester):
    pytester.makepyfile(
        time_machine="""
        import pytest

        @pytest.fixture
        def time_machine():
            return "theirs"
        """,
        test_theirs="""
        def test_theirs(time_machine, freezer):
            assert time_machine == "theirs"
        """,
    )
    run_inner(pytester, "-p", "time_machine").assert_outcomes(passed=1)


def test_from_pytest_main_it_says_how_instead_of_restarting(pytester):
    pytester.makepyfile(test_x="def test_x(timens_clock):\n    pass\n")
    script = "import sys, pytest; sys.exit(pytest.main(['--timens', '-p', 'no:cacheprovider', 'test_x.py']))"
    proc = subprocess.run([sys.executable, "-c", script], cwd=pytester.path, capture_output=True, text=True)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR
    assert "restarts pytest with libtimens.so loaded" in proc.stderr
    assert "Traceback" not in proc.stderr
