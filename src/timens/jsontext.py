"""JSON text read and written exactly as json.loads and json.dumps do, without importing json.

The json package imports re, and re enum: a fifth of a `timens list --json`
that lists 300 namespaces, and of each call a container engine makes to
timens-runtime. Both halves use the C functions json itself uses (_json)
and leave anything they do not handle to json: a value other than dicts
with string keys, lists, strings, numbers, booleans and None; text that
is not valid JSON, so that its error is json's.
"""

try:
    from _json import encode_basestring_ascii as _string, make_scanner as _make_scanner
except ImportError:  # another Python: json does it all
    _string = _make_scanner = None


_INFINITY = float("inf")


class _Other(Exception):
    """A value this module does not write: json.dumps does."""


def dumps(data, indent=None, sort_keys=False):
    """json.dumps(data, indent=INDENT, sort_keys=SORT_KEYS)."""
    if _string is not None:
        try:
            return "".join(_parts(data, None if indent is None else "\n", " " * (indent or 0), sort_keys))
        except (_Other, RecursionError):  # RecursionError: a value that contains itself
            pass
    import json

    return json.dumps(data, indent=indent, sort_keys=sort_keys)


def _parts(value, newline, step, sort_keys):
    if value is None:
        yield "null"
    elif value is True:
        yield "true"
    elif value is False:
        yield "false"
    elif type(value) is str:
        yield _string(value)
    elif type(value) is int:
        yield int.__repr__(value)
    elif type(value) is float:
        if value != value:
            yield "NaN"
        elif value in (_INFINITY, -_INFINITY):
            yield "Infinity" if value > 0 else "-Infinity"
        else:
            yield float.__repr__(value)
    elif type(value) in (list, tuple, dict):
        if not value:
            yield "{}" if type(value) is dict else "[]"
            return
        inner = None if newline is None else newline + step
        first, after = ("", ", ") if newline is None else (inner, "," + inner)
        if type(value) is dict:
            items = value.items()
            if sort_keys:
                if any(type(key) is not str for key in value):
                    raise _Other
                items = sorted(items)
            yield "{"
            for i, (key, item) in enumerate(items):
                if type(key) is not str:
                    raise _Other
                yield (after if i else first) + _string(key) + ": "
                yield from _parts(item, inner, step, sort_keys)
            yield ("" if newline is None else newline) + "}"
        else:
            yield "["
            for i, item in enumerate(value):
                yield after if i else first
                yield from _parts(item, inner, step, sort_keys)
            yield ("" if newline is None else newline) + "]"
    else:
        raise _Other


class _Context:
    """What _json's scanner reads from a json.JSONDecoder, as json.loads sets it."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name):
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_scan = None
_SPACE = " \t\n\r"


def loads(text):
    """json.loads(TEXT), TEXT a str or UTF-8 bytes."""
    global _scan
    if _make_scanner is not None:
        try:
            s = text.decode("utf-8") if isinstance(text, (bytes, bytearray)) else text
            if type(s) is str and not s.startswith("\ufeff"):
                if _scan is None:
                    _scan = _make_scanner(_Context())
                start = len(s) - len(s.lstrip(_SPACE))
                value, end = _scan(s, start)
                if not s[end:].strip(_SPACE):
                    return value
        except (StopIteration, ValueError, UnicodeDecodeError):
            pass  # not JSON, or not as simple: json says what is wrong
    import json

    return json.loads(text)
