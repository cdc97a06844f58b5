"""The `timens` command: a thin layer over the Python API.

Each subcommand is a small function, with a function that declares its
options, listed once in COMMANDS and dispatched from `main` on the first
argument: only that subcommand's parser is built, and only the modules it
needs are imported, so `timens run` starts quickly. Errors of timens itself
print one line and exit 125; `run` and `exec` exit with the command's
status, or die of the same signal, as util-linux `unshare` does; a command
that cannot be run exits 127 (not found) or 126, as in a shell.
"""
import os
import sys

from . import errors
from .values import CLOCKS

EXIT_OWN_ERROR = 125
VALUE_OPTIONS = (*(f"--{clock}" for clock in CLOCKS), "--advance")
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
privileges; --no-vdso-patch (run, exec) or TIMENS_VDSO_PATCH=0 turns the
patch off.
"""

EPILOG = """\
examples:
  timens run --boottime =400d -- uptime -p
  timens run --realtime @2038-01-19T03:14:07Z -- date
  timens create lab --boottime +365d --realtime +10y
  timens exec lab -- cat /proc/uptime
  timens set lab --realtime @2030-01-01T00:00:00Z
  timens run --freeze --realtime @2030-01-01T00:00:00Z -- date
  timens set lab --advance 1h
  timens list --json
  timens delete lab

exit status: the command's own status for run and exec (128+N if killed by
signal N); 125 when timens itself fails. With no command, timens lists."""



def parser_class():
    import argparse

    class Parser(argparse.ArgumentParser):
        def __init__(self, **kwargs):
            super().__init__(formatter_class=Formatter, **kwargs)

        def error(self, message):
            self.exit(EXIT_OWN_ERROR, f"timens: {message} (see: {self.prog} --help)\n")

    class Formatter(argparse.RawDescriptionHelpFormatter):
        # argparse makes a formatter for every option it adds, and without a
        # width that imports shutil (and with it bz2 and lzma): a third of a
        # `timens run`'s imports. The width is needed only to print help.
        def __init__(self, prog):
            super().__init__(prog, width=terminal_width())

    return Parser


def terminal_width():
    try:
        columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(sys.stdout.fileno()).columns
    except (ValueError, OSError, AttributeError):
        columns = 80
    return max(columns - 2, 20)


def top_parser():
    """`timens` itself: --help, --version, and the list of commands."""
    import argparse

    parser = parser_class()(prog="timens", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="action", metavar="COMMAND")
    for name, (help_, *_rest) in COMMANDS.items():
        sub.add_parser(name, help=help_)
    return parser


def command_parser(name, with_command=True):
    """The parser of one subcommand (the others are not built). Without
    WITH_COMMAND, the command comes after "--" only."""
    import argparse

    help_, description, declare, _func, command_nargs = COMMANDS[name]
    parser = parser_class()(prog=f"timens {name}", description=description or help_)
    declare(parser)
    if command_nargs and with_command:
        nargs = argparse.REMAINDER if command_nargs == "..." else command_nargs
        parser.add_argument("command", nargs=nargs, help="command and arguments (after --)")
    return parser


def freeze_option(p):
    p.add_argument("--freeze", action="store_true", help="REALTIME inside stands still (at --realtime if given)")


def set_options(p):
    freeze_option(p)
    p.add_argument("--unfreeze", action="store_true", help="REALTIME runs on from the frozen instant")
    p.add_argument("--advance", metavar="D", help="move REALTIME, MONOTONIC and BOOTTIME forward by D (1h), at once")


def clock_options(p, realtime=True):
    p.add_argument("--monotonic", metavar="V", help="MONOTONIC offset (+1d) or target (=10d)")
    p.add_argument("--boottime", metavar="V", help="BOOTTIME offset (+1d) or target (=400d); moves uptime too")
    if realtime:
        p.add_argument("--realtime", metavar="V", help="REALTIME offset (+10y, -400d) or @DATE")


def target_options(verb):
    def declare(p):
        p.add_argument("name", nargs="?", help=f"named namespace to {verb}")
        p.add_argument("--pid", help=f"{verb} the time namespace of this process instead")

    return declare


def json_option(p):
    p.add_argument("--json", action="store_true", help="machine-readable output (schema: docs/json.md)")


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


def run_command(ns, cmd):
    """Run CMD in NS as the command of `timens run/exec`; its status (-N: signal N)."""
    from .signals import run_in_job

    return run_in_job(ns.popen, cmd)


def default_shell():
    return [os.environ.get("SHELL") or "/bin/sh"]


def print_json(data):
    from .jsontext import dumps

    print(dumps(data, indent=2))


def describe(ns):
    return f'"{ns.name}"' if ns.name else f"pid {ns.pid}" if ns.pid else f"inode {ns.inode}"


def printable(text):
    """A command line for a one-line table cell: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# ---------------------------------------------------------------- commands


def cmd_run(args):
    from .spawn import run_in_new_namespace

    cmd = list(args.command or []) or default_shell()
    values = {"monotonic": args.monotonic, "boottime": args.boottime, "realtime": args.realtime}
    vdso_patch_switch(args)
    status = run_in_new_namespace(cmd, **values, freeze=args.freeze)
    if status is not None:
        return status
    from .namespace import TimeNamespace  # a namespace with a page, or held by a user namespace

    with TimeNamespace.create(**values, freeze=args.freeze) as ns:
        return run_command(ns, cmd)


def cmd_create(args):
    from .namespace import TimeNamespace

    values = {"monotonic": args.monotonic, "boottime": args.boottime, "realtime": args.realtime}
    TimeNamespace.create(args.name, **values, freeze=args.freeze).close()
    return 0


def cmd_exec(args):
    cmd = list(args.command or [])
    if args.pid is not None and args.name is not None and not args.explicit_command:
        cmd, args.name = [args.name, *cmd], None  # "exec --pid PID CMD": the name was the command
    if cmd and cmd[0].startswith("-") and not args.explicit_command:
        raise errors.BadValue(f"options go before the name: {cmd[0]} (put the command after --)")
    vdso_patch_switch(args)
    with open_target(args, "enter") as ns:
        return run_command(ns, cmd or default_shell())


def cmd_set(args):
    from .values import KERNEL_CLOCKS

    with open_target(args, "change") as ns:
        for clock in KERNEL_CLOCKS:
            if getattr(args, clock) is not None:
                raise errors.OffsetsFrozen(
                    f"cannot change {clock} of {describe(ns)}: the kernel takes MONOTONIC and BOOTTIME "
                    "offsets only before a namespace is first used, and refuses them after (EACCES); "
                    "make a new namespace with 'timens create' instead"
                )
        if args.freeze and args.unfreeze:
            raise errors.BadValue("--freeze and --unfreeze do not go together")
        if args.realtime is None and not (args.freeze or args.unfreeze or args.advance is not None):
            raise errors.BadValue("nothing to set: give --realtime V, --freeze, --unfreeze or --advance D")
        if args.advance is not None:  # refused before anything changes
            from .namespace import as_value
            from .travel import advance_ns

            advance_ns(as_value(args.advance, "advance"))
        if args.freeze:
            ns.freeze(at=args.realtime)
        elif args.realtime is not None:
            ns.set_realtime(args.realtime)
        if args.advance is not None:
            ns.advance(args.advance)
        if args.unfreeze:
            ns.unfreeze()
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


def vdso_patch_option(p):
    p.add_argument("--no-vdso-patch", action="store_true",
                   help="do not run the command under timens-tracer: static and Go programs then read host "
                   "REALTIME, and the command can be traced (strace, gdb, CRIU); as TIMENS_VDSO_PATCH=0")


def vdso_patch_switch(args):
    if args.no_vdso_patch:
        os.environ["TIMENS_VDSO_PATCH"] = "0"  # read by vdso.enabled, and kept by nested timens


def cmd_inject(args):
    from .inject import inject

    inject(args.name, args.pid)
    return 0


def inject_options(p):
    p.add_argument("name", help="named namespace whose clocks the process gets")
    p.add_argument("--pid", required=True, help="the running process")


def cmd_list(args):
    from .discover import list_namespaces
    from .values import format_offset

    namespaces = list_namespaces()
    if args.json:
        print_json({"schema": "timens.list/1", "namespaces": [n.as_json() for n in namespaces]})
        return 0
    fmt = lambda v: "?" if v is None else format_offset(v, 3)  # noqa: E731
    rows = [("INODE", "NAME", "MONOTONIC", "BOOTTIME", "REALTIME", "ADVANCED", "PROCS", "PID", "COMMAND")]
    for n in namespaces:
        rows.append(
            (
                str(n.inode),
                n.name or ("(host)" if n.host else "-"),
                fmt(n.monotonic),
                fmt(n.boottime),
                realtime_cell(n),
                format_offset(n.advanced[0], 3) if n.advanced and n.advanced[0] else "-",
                str(len(n.pids)),
                str(n.pid or "-"),
                printable(n.command or "-")[:60],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return 0


def realtime_cell(info):
    from .values import format_instant, format_offset

    if info.frozen:
        return f"frozen at {format_instant(info.frozen_at)}"
    return "-" if info.realtime is None else format_offset(info.realtime, 3)


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
    """One of: --name (a named namespace), --oci (print offsets) or a command to run."""
    from . import snapshot

    command = list(args.command or [])
    chosen = [w for w, given in (("--name", args.name is not None), ("--oci", args.oci), ("a command", command)) if given]
    if len(chosen) != 1:
        problem = "nothing to do" if not chosen else f"{' and '.join(chosen)} do not go together"
        raise errors.BadValue(
            f"restore: {problem}: give --name NAME to make a named namespace, --oci to print "
            "the OCI linux.timeOffsets, or -- COMMAND to run a command in the restored namespace"
        )
    if args.name is not None:
        from .rundir import validate_name

        validate_name(args.name)
    data = snapshot.load(args.snapshot)
    if args.oci:
        offsets = snapshot.restore_oci(data, args.elapsed)
        realtime = data["offsets"]["realtime_ns"]
        if realtime is not None:
            from .values import format_offset

            print(
                f"timens: note: the REALTIME offset {format_offset(realtime)} "
                "has no place in OCI timeOffsets (the kernel offsets MONOTONIC and BOOTTIME only)",
                file=sys.stderr,
            )
        print_json(offsets)
        return 0
    with snapshot.restore(data, args.name, elapsed=args.elapsed) as ns:
        return 0 if args.name is not None else run_command(ns, command)


def restore_options(p):
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


def both(*declares):
    def declare(p):
        for d in declares:
            d(p)

    return declare


def named(p):
    p.add_argument("name")


# name: (help, description, declare its options, run it, nargs of a command it takes:
# "..." everything after the first positional, "*" options may follow, None: no command)
COMMANDS = {
    "run": (
        "run a command in a new time namespace",
        "Make a new time namespace with the given clocks and run COMMAND in it\n"
        "(default: $SHELL). The namespace goes away with its last process.",
        both(clock_options, freeze_option, vdso_patch_option), cmd_run, "...",
    ),
    "create": (
        "make a named namespace that outlives this command", None,
        both(named, clock_options, freeze_option), cmd_create, None,
    ),
    "exec": (
        "run a command in a named namespace or a process's namespace", None,
        both(target_options("enter"), vdso_patch_option), cmd_exec, "...",
    ),
    "set": (
        "change the REALTIME of a namespace, live; freeze or advance its clocks",
        "Change REALTIME for every process inside, from its next clock read;\n"
        "freeze it (--freeze), let it run on (--unfreeze), or move every clock\n"
        "forward at once (--advance 1h; never back). MONOTONIC and BOOTTIME offsets\n"
        "are fixed by the kernel once the namespace exists; an advance adds to them\n"
        "in libtimens.so.",
        both(target_options("change"), clock_options, set_options), cmd_set, None,
    ),
    "delete": (
        "remove named namespaces", None,
        lambda p: p.add_argument("names", nargs="+", metavar="name"), cmd_delete, None,
    ),
    "list": ("list every time namespace on the system", None, json_option, cmd_list, None),
    "show": (
        "show what each clock reads inside a namespace, next to the host", None,
        both(target_options("show"), json_option), cmd_show, None,
    ),
    "inject": (
        "give a running process a namespace's clocks",
        "Make process PID (static, Go or any x86-64 program, started outside timens)\n"
        "read NAME's REALTIME, and its MONOTONIC and BOOTTIME as NAME's offsets relative\n"
        "to its own namespace, by patching its vDSO in place. Every thread stops for a\n"
        "moment; no tracer stays attached. Refused, with nothing changed: 32-bit or other\n"
        "architectures, a process traced already, seccomp without CAP_SYS_ADMIN.",
        inject_options, cmd_inject, None,
    ),
    "save": (
        "snapshot a namespace's clocks to a file, for restore", None,
        both(target_options("save"),
             lambda p: p.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")),
        cmd_save, None,
    ),
    "restore": (
        "make a namespace whose clocks go on from a snapshot",
        "Make a namespace whose MONOTONIC and BOOTTIME go on from the saved values\n"
        "(offset = saved value - this host's current value) and whose REALTIME keeps\n"
        "its saved offset. Give --name to keep it, --oci to print OCI timeOffsets,\n"
        "or a command to run in it (after --).",
        restore_options, cmd_restore, "*",
    ),
}


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


class RunArguments:
    """What parse_run reads: the attributes argparse would set for `run`."""

    def __init__(self, command, explicit_command, flags, values):
        self.command, self.explicit_command = command, explicit_command
        self.freeze, self.no_vdso_patch = "--freeze" in flags, "--no-vdso-patch" in flags
        self.monotonic, self.boottime, self.realtime = (values.get(clock) for clock in CLOCKS)


def parse_run(words):
    """`run [--CLOCK V | --CLOCK=V | --freeze | --no-vdso-patch]... [--] [CMD...]`,
    the forms nearly every run takes, read without argparse (a sixth of the
    start-up): RunArguments, or None for argparse to read the rest (help,
    abbreviations, mistakes), so that what it prints stays the one answer."""
    split = words.index("--") if "--" in words else None
    options = words if split is None else words[:split]
    values, flags, i = {}, set(), 0
    while i < len(options):
        word = options[i]
        name, equals, value = word.partition("=")
        if word in ("--freeze", "--no-vdso-patch"):
            flags.add(word)
        elif name.startswith("--") and name[2:] in CLOCKS:
            if not equals:
                if i + 1 == len(options):
                    return None
                i += 1
                value = options[i]  # whatever it looks like, as join_negative_values reads it
            values[name[2:]] = value
        elif word.startswith("-") or split is not None:
            return None
        else:
            break  # the command begins
        i += 1
    command = words[i:] if split is None else words[split + 1 :]
    return RunArguments(command, split is not None, flags, values)


class ListArguments:
    """What `list` and `list --json` give: the attribute argparse would set."""

    def __init__(self, json):
        self.json = json


def parse(argv):
    """(function, arguments) for ARGV; argparse exits 125 on bad usage."""
    if argv and argv[0] == "run":
        args = parse_run(argv[1:])
        if args is not None:
            return cmd_run, args
    if argv in ([], ["list"], ["list", "--json"]):  # read without argparse, as run's usual forms are
        return cmd_list, ListArguments(json=argv == ["list", "--json"])
    argv = join_negative_values(argv) or ["list"]
    name = argv[0]
    if name not in COMMANDS:
        args = top_parser().parse_args(argv)  # --help, or an error naming the choices
        if args.version:
            from . import version

            print(f"timens {version()}")
            sys.exit(0)
        return parse(["list"])
    if COMMANDS[name][4] and "--" in argv:
        # Everything after the first "--" is the command, whatever it looks like.
        split = argv.index("--")
        args = command_parser(name, with_command=False).parse_args(argv[1:split])
        args.command, args.explicit_command = argv[split + 1 :], True
    else:
        args = command_parser(name).parse_args(argv[1:])
        args.explicit_command = False
    return COMMANDS[name][3], args


def main(argv=None):
    func, args = parse(sys.argv[1:] if argv is None else list(argv))
    try:
        status = func(args)
    except errors.CommandError as err:  # the command's exec failed: as a shell says it
        print(f"timens: {err.filename}: {err.strerror}", file=sys.stderr)
        return err.exit_status
    except errors.TimensError as err:
        print(f"timens: {err}", file=sys.stderr)
        return EXIT_OWN_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OWN_ERROR
    except OSError as err:  # what no API boundary translated: still one line
        print(f"timens: {errors.from_os_error(err)}", file=sys.stderr)
        return EXIT_OWN_ERROR
    if status < 0:
        from .signals import die_like_child

        return die_like_child(-status)
    return status
