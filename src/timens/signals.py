"""The command of `timens run/exec` as a job: signals, stops and its status.

To the shell, `timens run -- CMD` must be indistinguishable from `CMD`:

- When timens is a terminal job (in the foreground, or a background job
  whose process group it leads), the command joins timens's process
  group. What the terminal sends (^C, ^\\, ^Z, SIGTTIN, a resize) reaches
  both at once, so timens does not pass it on, and a ^Z or SIGTTIN stops
  timens as it stops the command: the shell sees the job stop, and `fg`
  continues both.
- Elsewhere (under `timeout`, a supervisor, inside another job's group) the
  command gets a process group of its own: a signal sent to timens's group
  then reaches it once, through timens. A stop signal timens receives stops
  the command first, then timens, and SIGCONT continues both.

Signals a process sends to timens itself are passed on in both cases (one
sent twice at once, to timens and to its group, is passed on once).
"""
import os
import time

try:
    # The C half of `signal`, loaded with every interpreter: the module itself
    # imports enum (and with it functools and collections), a tenth of the
    # start-up of `timens run`, to wrap these same numbers in enums.
    import _signal as signal
except ImportError:  # another Python than CPython
    import signal

# Signals that would end or disturb timens: they are meant for the command.
FORWARDED = (
    signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT,
    signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGWINCH, signal.SIGCONT,
)
STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)
SI_KERNEL = 0x80  # si_code of a signal the terminal sent to the whole process group
# The same signal from the same sender this soon after is one signal sent
# twice, to timens and to its process group, as `timeout` does; had it
# arrived a moment earlier the kernel would have merged the two.
SAME_SIGNAL_S = 0.05


def run_in_job(popen, cmd):
    """Start CMD with POPEN (a Popen-shaped callable) and wait for it,
    passing signals on; its status (-N: killed by signal N)."""
    shared = is_terminal_job()
    waited = {*FORWARDED, signal.SIGCHLD} | (set() if shared else set(STOPS))
    # Blocked before the command starts, so that no signal meant for it is
    # lost or acted on by timens; the helper unblocks them for the command.
    already = signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        proc = popen(cmd, unblock_signals=sorted(waited - already), **({} if shared else {"process_group": 0}))
        last = None
        while proc.poll() is None:
            info = signal.sigwaitinfo(waited)
            sig = info.si_signo
            if sig == signal.SIGCHLD:
                continue
            if shared and info.si_code == SI_KERNEL:  # the terminal told the command too
                continue
            now = time.monotonic()
            if last and last[:2] == (sig, info.si_pid) and now - last[2] < SAME_SIGNAL_S:
                continue  # one signal sent twice, to timens and to its group (as timeout does)
            last = (sig, info.si_pid, now)
            if sig in STOPS:
                _stop_with(proc, sig)
                continue
            proc.send_signal(sig)
        return proc.returncode
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, already)


def _stop_with(proc, sig):
    """Stop the command, then timens itself (as the shell expects of a job);
    once continued, continue the command."""
    proc.send_signal(sig)
    os.kill(os.getpid(), signal.SIGSTOP)
    proc.send_signal(signal.SIGCONT)


def is_terminal_job():
    """Does timens run under a terminal's job control: in the terminal's
    foreground group, or leading a group of its own in a session with a
    terminal (a shell's `cmd &`)? Then the command shares its group."""
    foreground = None
    for fd in (0, 1, 2):
        try:
            foreground = os.tcgetpgrp(fd)
            break
        except OSError:
            continue
    if foreground is None:
        try:
            fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            foreground = os.tcgetpgrp(fd)
        except OSError:
            return False
        finally:
            os.close(fd)
    return foreground == os.getpgrp() or os.getpgrp() == os.getpid()


def die_like_child(sig):
    """Re-raise the child's fatal signal on ourselves, as util-linux unshare does."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the child dumped core already, if it did
    for s in {*FORWARDED, sig} - {signal.SIGKILL, signal.SIGSTOP}:
        signal.signal(s, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
    os.kill(os.getpid(), sig)
    return 128 + sig  # the signal did not kill us (it is ignored by default): say it the shell way
