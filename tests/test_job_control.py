"""Job control: under an interactive shell in a terminal, `timens run -- CMD`
behaves as CMD does: ^C ends it, ^Z stops it (the shell sees the job
stop), `fg` continues it, also after it was started in the background.

The terminal is a pty and the shell `bash -i`, driven as a user would.
"""
import os
import pty
import select
import shlex
import sys
import time

import pytest

from conftest import timens_argv

TIMENS = " ".join(shlex.quote(a) for a in timens_argv())


class Terminal:
    def __init__(self, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)
        self.seen = ""
        self.say("PS1='$ '; echo rea''dy")
        self.expect("ready")

    def say(self, text):
        os.write(self.fd, text.encode() + b"\n")

    def key(self, char):
        os.write(self.fd, char.encode())

    def expect(self, text, timeout=20):
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AssertionError(f"no {text!r} on the terminal; it shows:\n{self.seen[-600:]}")
            try:
                self.seen += os.read(self.fd, 4096).decode(errors="replace")
            except OSError:
                break
        if text not in self.seen:
            raise AssertionError(f"no {text!r} on the terminal; it shows:\n{self.seen[-600:]}")
        self.seen = self.seen[self.seen.index(text) + len(text):]

    def status_of_last(self):
        self.say('echo "sta""tus=$?="')  # the quotes keep the echoed command line from matching
        self.expect("status=")
        rest = self.seen
        while "=" not in rest:
            self.seen += os.read(self.fd, 4096).decode(errors="replace")
            rest = self.seen
        value, _, self.seen = rest.partition("=")
        return int(value)

    def close(self):
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def terminal(rundir):
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}", "TERM": "dumb"}
    term = Terminal(env)
    yield term
    term.close()


def state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()[0]


def wait_for_pid(path):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError("the command did not start")


def wait_state(pid, wanted):
    deadline = time.monotonic() + 10
    while state(pid) not in wanted and time.monotonic() < deadline:
        time.sleep(0.02)
    return state(pid)


@pytest.mark.parametrize("start", ["foreground", "background then fg"])
def test_ctrl_z_stops_and_fg_continues_and_ctrl_c_ends(terminal, tmp_path, start):
    pidfile = tmp_path / "pid"
    command = f"{TIMENS} run --monotonic +1h -- sh -c 'echo $$ > {pidfile}; exec sleep 100'"
    if start == "foreground":
        terminal.say(command)
    else:
        terminal.say(command + " &")
        wait_for_pid(pidfile)
        terminal.say("fg")
    pid = wait_for_pid(pidfile)
    time.sleep(0.3)
    terminal.key("\x1a")  # ^Z
    terminal.expect("Stopped")
    assert wait_state(pid, "T") == "T", "^Z stops the command"
    assert terminal.status_of_last() == 148, "the shell saw the job stop, as with the bare command"
    terminal.say("fg")
    assert wait_state(pid, "SR") in "SR", "fg continues the command"
    time.sleep(0.3)
    terminal.key("\x03")  # ^C
    assert terminal.status_of_last() == 130, "^C ends the command, as the bare one"
    assert not os.path.exists(f"/proc/{pid}") or state(pid) == "Z"


def test_ctrl_c_after_fg_of_a_background_run(terminal, tmp_path):
    pidfile = tmp_path / "pid"
    terminal.say(f"{TIMENS} run -- sh -c 'echo $$ > {pidfile}; exec sleep 100' &")
    pid = wait_for_pid(pidfile)
    terminal.say("fg")
    time.sleep(0.5)
    terminal.key("\x03")
    assert terminal.status_of_last() == 130
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and state(pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{pid}") or state(pid) == "Z", "^C reached the command"


def test_a_stop_signal_away_from_a_terminal_stops_the_command_too(rundir, tmp_path):
    """Without a terminal the command has its own process group: SIGTSTP sent
    to timens stops the command, then timens; SIGCONT continues both."""
    import signal
    import subprocess

    proc = subprocess.Popen(timens_argv("run", "--", "sh", "-c", "echo $$; exec sleep 100"), stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    pid = int(proc.stdout.readline())
    try:
        proc.send_signal(signal.SIGTSTP)
        assert wait_state(pid, "T") == "T" and wait_state(proc.pid, "T") == "T"
        proc.send_signal(signal.SIGCONT)
        assert wait_state(pid, "SR") in "SR" and wait_state(proc.pid, "SR") in "SR"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            os.kill(pid, 9)
            proc.wait()
