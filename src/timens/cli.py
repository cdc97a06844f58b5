"""The `timens` command: a thin layer over the Python API.

Each subcommand is one small function, dispatched from `main`. Errors of
timens itself print one line and exit 125; `run` and `exec` exit with the
command's status, or die of the same signal, as util-linux `unshare` does.
"""
import argparse
import os
import signal
import sys

from . import errors

EXIT_OWN_ERROR = 125
VALUE_OPTIONS = ("--monotonic", "--boottime", "--realtime")

DESCRIPTION = """\
Give processes their own clocks with Linux time namespaces.

MONOTONIC and BOOTTIME (and their _RAW, _COARSE and _ALARM variants, uptime
and btime) come from the kernel and reach every program. REALTIME comes from
a shared clock page read by libtimens.so, loaded with LD_PRELOAD into
dynamically linked programs only when a REALTIME offset is in effect.

Values:  +1d  -3h  +1.5s  +2h30m  86400   offsets (ns us ms s m h d w y; y = 365.25 d)
         =400d                             what the clock reads at creation
         @2038-01-19T03:14:07Z  @EPOCH     what REALTIME reads at creation
Values are relative to the clocks the caller sees. Write a negative offset
as --boottime -3h or --boottime=-3h.

Static and Go programs never load libtimens.so: where a namespace has a
REALTIME page, commands run under timens-tracer, which patches the vDSO of
every program the command execs. A traced tree cannot be traced by anything
else (strace, gdb, CRIU) and setuid programs in it run without their
privileges; TIMENS_VDSO_PATCH=0 turns the patch off.
"""

EPILOG = """\
examples:
  timens run --boottime =400d -- uptime -p
  timens run --realtime @2038-01-19T03:14:07Z -- date
  timens create lab --boottime +365d --realtime +10y
  timens exec lab -- cat /proc/uptime
  timens set lab --realtime @2030-01-01T00:00:00Z
  timens list --json
  timens delete lab

exit status: the command's own status for run and exec (128+N if killed by
signal N); 125 when timens itself fails. With no command, timens lists."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_OWN_ERROR, f"timens: {message} (see: {self.prog} --help)\n")


TAKES_COMMAND = ("run", "exec", "restore")


def build_parser(command_positional=True):
    """The parser; without COMMAND_POSITIONAL the command comes after "--"
    only, so options may stand anywhere before it."""
    parser = Parser(
        prog="timens", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action=VersionAction, help="print the version and exit")
    sub = parser.add_subparsers(dest="action", metavar="COMMAND", parser_class=Parser)

    def command(name, help_, func, *, description=None):
        p = sub.add_parser(
            name, help=help_, description=description or help_, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        p.set_defaults(func=func)
        return p

    def clock_options(p, realtime=True):
        p.add_argument("--monotonic", metavar="V", help="MONOTONIC offset (+1d) or target (=10d)")
        p.add_argument("--boottime", metavar="V", help="BOOTTIME offset (+1d) or target (=400d); moves uptime too")
        if realtime:
            p.add_argument("--realtime", metavar="V", help="REALTIME offset (+10y, -400d) or @DATE")

    def target(p, verb):
        p.add_argument("name", nargs="?", help=f"named namespace to {verb}")
        p.add_argument("--pid", help=f"{verb} the time namespace of this process instead")

    p = command(
        "run",
        "run a command in a new time namespace",
        func=cmd_run,
        description="Make a new time namespace with the given clocks and run COMMAND in it\n"
        "(default: $SHELL). The namespace goes away with its last process.",
    )
    clock_options(p)
    if command_positional:
        p.add_argument("command", nargs=argparse.REMAINDER, help="command and arguments (after --)")

    p = command("create", "make a named namespace that outlives this command", cmd_create)
    p.add_argument("name")
    clock_options(p)

    p = command("exec", "run a command in a named namespace or a process's namespace", cmd_exec)
    target(p, "enter")
    if command_positional:
        p.add_argument("command", nargs=argparse.REMAINDER, help="command and arguments (after --)")

    p = command(
        "set",
        "change the REALTIME of a namespace, live",
        cmd_set,
        description="Change REALTIME for every process inside, from its next clock read.\n"
        "MONOTONIC and BOOTTIME offsets are fixed by the kernel once the namespace exists.",
    )
    target(p, "change")
    clock_options(p)

    p = command("delete", "remove named namespaces", cmd_delete)
    p.add_argument("names", nargs="+", metavar="name")

    p = command("list", "list every time namespace on the system", cmd_list)
    p.add_argument("--json", action="store_true", help="machine-readable output (schema: docs/json.md)")

    p = command("show", "show what each clock reads inside a namespace, next to the host", cmd_show)
    target(p, "show")
    p.add_argument("--json", action="store_true", help="machine-readable output (schema: docs/json.md)")

    p = command(
        "inject",
        "give a running process a namespace's clocks",
        cmd_inject,
        description="Make process PID (static, Go or any x86-64 program, started outside timens)\n"
        "read NAME's REALTIME, and its MONOTONIC and BOOTTIME as NAME's offsets relative\n"
        "to its own namespace, by patching its vDSO in place. Every thread stops for a\n"
        "moment; no tracer stays attached. Refused, with nothing changed: 32-bit or other\n"
        "architectures, a process traced already, seccomp without CAP_SYS_ADMIN.",
    )
    p.add_argument("name", help="named namespace whose clocks the process gets")
    p.add_argument("--pid", required=True, help="the running process")

    p = command("save", "snapshot a namespace's clocks to a file, for restore", cmd_save)
    target(p, "save")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")

    p = command(
        "restore",
        "make a namespace whose clocks go on from a snapshot",
        cmd_restore,
        description="Make a namespace whose MONOTONIC and BOOTTIME go on from the saved values\n"
        "(offset = saved value - this host's current value) and whose REALTIME keeps\n"
        "its saved offset. Give --name to keep it, --oci to print OCI timeOffsets,\n"
        "or a command to run in it.",
    )
    p.add_argument("snapshot", metavar="FILE", help="snapshot written by 'timens save'")
    p.add_argument("--name", help="create a named namespace")
    p.add_argument(
        "--elapsed",
        choices=("frozen", "wall"),
        default="frozen",
        help="frozen: continue exactly from the saved values (default); "
        "wall: also add the host REALTIME that passed since the save",
    )
    p.add_argument("--oci", action="store_true", help="print the linux.timeOffsets object of an OCI runtime config")
    # "*", not REMAINDER: options may follow FILE (timens restore FILE --name lab); main() splits at "--"
    if command_positional:
        p.add_argument("command", nargs="*", help="command to run in the restored namespace (after --)")
    return parser


class VersionAction(argparse.Action):
    """--version, reading the installed metadata only when asked (it is slow to import)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"timens {version()}")
        parser.exit(0)


def version():
    try:
        from importlib.metadata import version as dist_version

        return dist_version("timens")
    except Exception:
        return "unknown"


# ---------------------------------------------------------------- helpers


def open_target(args, verb):
    from .namespace import TimeNamespace

    if args.pid is not None and args.name is not None:
        raise errors.BadValue("give a name or --pid, not both")
    if args.pid is not None:
        return TimeNamespace.from_pid(args.pid)
    if args.name is None:
        raise errors.BadValue(f"which namespace to {verb}? give a name or --pid PID (see: timens list)")
    return TimeNamespace.open(args.name)


# Signals that would end or disturb timens: they are meant for the command.
FORWARDED = (
    signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT,
    signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGWINCH, signal.SIGCONT,
)
SI_KERNEL = 0x80  # si_code of a signal the terminal sent to the whole process group


def wait_child(proc):
    """Wait for the child, passing signals on to it; its status (-N: signal N).

    What the terminal sends (^C, ^\\, a resize) reaches the command directly,
    as it is in the same process group, so only signals sent by a process
    are passed on. (One sent to the whole group thus arrives twice.)
    The caller returns the status to `main`, which dies of the same signal
    only after every namespace and page has been cleaned up.
    """
    waited = {*FORWARDED, signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        while proc.poll() is None:
            info = signal.sigwaitinfo(waited)
            if info.si_signo == signal.SIGCHLD:
                continue
            if info.si_code == SI_KERNEL:  # ^C, ^\, a resize: the terminal told the command too
                continue
            proc.send_signal(info.si_signo)
        return proc.returncode
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)


def run_command(ns, cmd):
    """Run CMD in NS as the command of `timens run/exec`; its status (-N: signal N).

    In the terminal's foreground the command shares our process group, so
    ^C reaches it as it would reach the bare command. Elsewhere (under
    `timeout`, a supervisor, a pipeline with no terminal) it gets a group of
    its own: a signal sent to our group then reaches it once, through us,
    not twice.
    """
    return wait_child(ns.popen(cmd, **({} if in_terminal_foreground() else {"process_group": 0})))


def in_terminal_foreground():
    for fd in (0, 1, 2):
        try:
            return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def die_like_child(sig):
    """Re-raise the child's fatal signal on ourselves, as util-linux unshare does."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the child dumped core already, if it did
    for s in {*FORWARDED, sig} - {signal.SIGKILL, signal.SIGSTOP}:
        signal.signal(s, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
    os.kill(os.getpid(), sig)
    return 128 + sig  # the signal did not kill us (it is ignored by default): say it the shell way


def default_shell():
    return [os.environ.get("SHELL") or "/bin/sh"]


def print_json(data):
    import json

    print(json.dumps(data, indent=2))


# ---------------------------------------------------------------- commands


def cmd_run(args):
    from .namespace import TimeNamespace

    cmd = list(args.command or []) or default_shell()
    with TimeNamespace.create(monotonic=args.monotonic, boottime=args.boottime, realtime=args.realtime) as ns:
        return run_command(ns, cmd)


def cmd_create(args):
    from .namespace import TimeNamespace

    TimeNamespace.create(args.name, monotonic=args.monotonic, boottime=args.boottime, realtime=args.realtime).close()
    return 0


def cmd_exec(args):
    cmd = list(args.command or [])
    if args.pid is not None and args.name is not None and not args.explicit_command:
        cmd, args.name = [args.name, *cmd], None  # "exec --pid PID CMD": the name was the command
    if cmd and cmd[0].startswith("-") and not args.explicit_command:
        raise errors.BadValue(f"options go before the name: {cmd[0]} (put the command after --)")
    with open_target(args, "enter") as ns:
        return run_command(ns, cmd or default_shell())


def cmd_set(args):
    with open_target(args, "change") as ns:
        for clock in ("monotonic", "boottime"):
            if getattr(args, clock) is not None:
                raise errors.OffsetsFrozen(
                    f"cannot change {clock} of {describe(ns)}: the kernel takes MONOTONIC and BOOTTIME "
                    "offsets only before a namespace is first used, and refuses them after (EACCES); "
                    "make a new namespace with 'timens create' instead"
                )
        if args.realtime is None:
            raise errors.BadValue("nothing to set: give --realtime V")
        ns.set_realtime(args.realtime)
    return 0


def cmd_inject(args):
    from .inject import inject

    inject(args.name, args.pid)
    return 0


def cmd_delete(args):
    from .namespace import delete_named

    status = 0
    for name in args.names:
        try:
            delete_named(name)
        except errors.TimensError as err:
            print(f"timens: {err}", file=sys.stderr)
            status = EXIT_OWN_ERROR
    return status


def cmd_list(args):
    from . import inspect
    from .values import format_offset

    namespaces = inspect.list_namespaces()
    if args.json:
        print_json({"schema": "timens.list/1", "namespaces": [n.as_json() for n in namespaces]})
        return 0
    fmt = lambda v: "?" if v is None else format_offset(v, 3)  # noqa: E731
    rows = [("INODE", "NAME", "MONOTONIC", "BOOTTIME", "REALTIME", "PROCS", "PID", "COMMAND")]
    for n in namespaces:
        rows.append(
            (
                str(n.inode),
                n.name or ("(host)" if n.host else "-"),
                fmt(n.monotonic),
                fmt(n.boottime),
                "-" if n.realtime is None else format_offset(n.realtime, 3),
                str(len(n.pids)),
                str(n.pid or "-"),
                printable(n.command or "-")[:60],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return 0


def printable(text):
    """A command line for a one-line table cell: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def describe(ns):
    return f'"{ns.name}"' if ns.name else f"pid {ns.pid}" if ns.pid else f"inode {ns.inode}"


def cmd_show(args):
    from .report import clock_report, print_report

    with open_target(args, "show") as ns:
        report = clock_report(ns)
    if args.json:
        print_json(report)
    else:
        print_report(report)
    return 0


def cmd_save(args):
    from .snapshot import save

    with open_target(args, "save") as ns:
        save(ns, args.output)
    return 0


def cmd_restore(args):
    from .snapshot import restore

    return restore(args.snapshot, name=args.name, elapsed=args.elapsed, oci=args.oci, command=list(args.command or []))


# ---------------------------------------------------------------- main


def join_negative_values(argv):
    """'--boottime -3h' -> '--boottime=-3h', so argparse sees a value."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return out + argv[i:]
        if arg in VALUE_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-") and argv[i + 1] != "--":
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def main(argv=None):
    argv = join_negative_values(sys.argv[1:] if argv is None else list(argv))
    action = next((a for a in argv if not a.startswith("-")), None)
    if action in TAKES_COMMAND and "--" in argv:
        # Everything after the first "--" is the command, whatever it looks like.
        split = argv.index("--")
        parser = build_parser(command_positional=False)
        args = parser.parse_args(argv[:split])
        args.command, args.explicit_command = argv[split + 1 :], True
    else:
        parser = build_parser()
        args = parser.parse_args(argv or ["list"])
        args.explicit_command = False
    if not getattr(args, "func", None):
        args = parser.parse_args(["list"])
    try:
        status = args.func(args)
    except errors.TimensError as err:
        print(f"timens: {err}", file=sys.stderr)
        return EXIT_OWN_ERROR
    except FileNotFoundError as err:  # the command, as a shell says it
        print(f"timens: {err.filename}: command not found", file=sys.stderr)
        return 127
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OWN_ERROR
    return die_like_child(-status) if status < 0 else status
