"""The clock page's layout and where pages live, read from ``native/timens_page.h``.

The header is the one definition (libtimens.so includes it); its
``#define`` lines are parsed here, at import.
Apart from `page.py`, the run directory and the sweep of stale pages need
these names, and `timens run` imports them without the page's own code.
"""
import os

NATIVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native")
HEADER = os.path.join(NATIVE, "timens_page.h")

_STRINGS = ("TIMENS_PAGES_SUBDIR", "TIMENS_DEFAULT_RUNDIR")


def _parse_header(text):
    """The header's one-line defines: TIMENS_PAGE_*/OFF_*/FLAG_* numbers, two paths."""
    layout = {}
    for line in text.splitlines():
        words = line.split(None, 2)
        if len(words) != 3 or words[0] != "#define":
            continue
        name, value = words[1], words[2].strip()
        if name.startswith(("TIMENS_PAGE_", "TIMENS_OFF_", "TIMENS_FLAG_")):
            layout[name] = int(value, 0)
        elif name in _STRINGS and len(value) >= 2 and value[0] == value[-1] == '"':
            layout[name] = value[1:-1]
    return layout


#: Every TIMENS_PAGE_* / TIMENS_OFF_* number and the two path strings.
with open(HEADER) as _header:
    LAYOUT = _parse_header(_header.read())

PAGE_MAGIC = LAYOUT["TIMENS_PAGE_MAGIC"]
PAGE_VERSION = LAYOUT["TIMENS_PAGE_VERSION"]
PAGE_SIZE = LAYOUT["TIMENS_PAGE_SIZE"]
OFF_MAGIC = LAYOUT["TIMENS_OFF_MAGIC"]
OFF_VERSION = LAYOUT["TIMENS_OFF_VERSION"]
OFF_SEQ = LAYOUT["TIMENS_OFF_SEQ"]
OFF_REALTIME_SEC = LAYOUT["TIMENS_OFF_REALTIME_SEC"]
OFF_REALTIME_NSEC = LAYOUT["TIMENS_OFF_REALTIME_NSEC"]
OFF_GENERATION = LAYOUT["TIMENS_OFF_GENERATION"]
OFF_NS_ID = LAYOUT["TIMENS_OFF_NS_ID"]
OFF_WAKE = LAYOUT["TIMENS_OFF_WAKE"]
FLAG_FROZEN = LAYOUT["TIMENS_FLAG_FROZEN"]
PAGES_SUBDIR = LAYOUT["TIMENS_PAGES_SUBDIR"]
DEFAULT_RUNDIR = LAYOUT["TIMENS_DEFAULT_RUNDIR"]
