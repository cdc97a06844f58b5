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
        out = []
        try:
            _write(data, None if indent is None else "\n", " " * (indent or 0), sort_keys, out)
            return "".join(out)
        except (_Other, RecursionError):  # RecursionError: a value that contains itself
            pass
    import json

    return json.dumps(data, indent=indent, sort_keys=sort_keys)


def _write(value, newline, step, sort_keys, out):
    """Append VALUE's text to OUT (a list: cheaper than nested generators)."""
    kind = type(value)
    if kind is str:
        out.append(_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is float:
        if value != value:
            out.append("NaN")
        elif value in (_INFINITY, -_INFINITY):
            out.append("Infinity" if value > 0 else "-Infinity")
        else:
            out.append(float.__repr__(value))
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        inner = None if newline is None else newline + step
        first, after = ("{", ", ") if newline is None else ("{" + inner, "," + inner)
        items = value.items()
        if sort_keys:
            if any(type(key) is not str for key in value):
                raise _Other
            items = sorted(items)
        for i, (key, item) in enumerate(items):
            if type(key) is not str:
                raise _Other
            out.append((after if i else first) + _string(key) + ": ")
            _write(item, inner, step, sort_keys, out)
        out.append("}" if newline is None else newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        inner = None if newline is None else newline + step
        first, after = ("[", ", ") if newline is None else ("[" + inner, "," + inner)
        for i, item in enumerate(value):
            out.append(after if i else first)
            _write(item, inner, step, sort_keys, out)
        out.append("]" if newline is None else newline + "]")
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
