"""The runc command line, as engines write it.

    RUNTIME [GLOBAL OPTIONS] COMMAND [OPTIONS] CONTAINER-ID [ARGS]

Only what timens-runtime needs is read (the root, the log, the command, the
container id, the bundle or process file); everything is passed on as it
came, except timens-runtime's own `--timens-runtime PATH`. Options take
`--name value`, `--name=value`, and urfave/cli's single-dash spelling.
"""
OWN_OPTION = "timens-runtime"

# Global options of runc 1.1 and crun 1.8 that take a value (all others are flags).
GLOBAL_VALUE_OPTIONS = {"root", "log", "log-format", "criu", "rootless", "cgroup-manager", OWN_OPTION}

# Command options that take a value, for the commands timens-runtime reads.
COMMAND_VALUE_OPTIONS = {
    "create": {"bundle", "b", "console-socket", "pid-file", "preserve-fds", "config", "f"},
    "run": {"bundle", "b", "console-socket", "pid-file", "preserve-fds", "config", "f"},
    "exec": {
        "console-socket", "cwd", "env", "e", "user", "u", "additional-gids", "g", "process", "p",
        "process-label", "apparmor", "pid-file", "cap", "c", "preserve-fds", "cgroup",
    },
}


class Call:
    """One command line, read. (A plain class: dataclasses cost an import
    of `inspect` on every container start.)"""

    def __init__(self):
        self.argv = []  # what the real runtime gets
        self.options = {}  # global options by name (last one wins)
        self.command = None
        self.command_index = None  # index of COMMAND in argv
        self.command_options = {}  # {name: [values]}
        self.container_id = None
        self.container_index = None  # index of CONTAINER_ID in argv
        self.runtime = None  # --timens-runtime PATH

    @property
    def root(self):
        return self.options.get("root")


def split_option(word):
    """('name', value or None) for an option word, None for a positional."""
    if len(word) < 2 or not word.startswith("-") or word == "--":
        return None
    name, eq, value = word.lstrip("-").partition("=")
    return name, (value if eq else None)


def parse(argv):
    call = Call()
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        opt = split_option(word)
        if opt is None:
            break
        name, value = opt
        taken = [word]
        if name in GLOBAL_VALUE_OPTIONS and value is None and i + 1 < len(words):
            value = words[i + 1]
            taken.append(value)
        i += len(taken)
        if name == OWN_OPTION:
            call.runtime = value
            continue
        call.options[name] = value if name in GLOBAL_VALUE_OPTIONS else True
        call.argv += taken
    if i >= len(words) or words[i] == "--":
        call.argv += words[i:]
        return call
    call.command = words[i]
    call.command_index = len(call.argv)
    call.argv += words[i:]
    value_options = COMMAND_VALUE_OPTIONS.get(call.command, set())
    j = i + 1
    while j < len(words):
        word = words[j]
        if word == "--":
            j += 1
            break
        opt = split_option(word)
        if opt is None:
            break
        name, value = opt
        if name in value_options and value is None and j + 1 < len(words):
            value = words[j + 1]
            j += 1
        call.command_options.setdefault(name, []).append(value if name in value_options else True)
        j += 1
    if j < len(words):
        call.container_id = words[j]
        call.container_index = call.command_index + (j - i)
    return call


def last(call, *names):
    """The last value given for any of NAMES (long and short spellings)."""
    for name in names:
        if name in call.command_options:
            return call.command_options[name][-1]
    return None
