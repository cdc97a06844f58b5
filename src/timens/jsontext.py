"""JSON text exactly as json.dumps(data, indent=2) writes it, without importing json.

The json package imports re, and re enum: a fifth of a `timens list --json`
that lists 300 namespaces. What timens prints is made of dicts with string
keys, lists, strings, integers, booleans and None; anything else (a float,
another key type) is left to json itself, so the text is always json's.
"""

try:
    from _json import encode_basestring_ascii as _string  # what json.dumps uses for strings
except ImportError:  # another Python: json's own text
    _string = None


class _Other(Exception):
    """A value this module does not write: json.dumps does."""


def dumps(data):
    """json.dumps(data, indent=2)."""
    if _string is not None:
        try:
            return "".join(_parts(data, "\n"))
        except _Other:
            pass
    import json

    return json.dumps(data, indent=2)


def _parts(value, newline):
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
    elif type(value) in (list, tuple):
        if not value:
            yield "[]"
            return
        inner = newline + "  "
        yield "["
        for i, item in enumerate(value):
            yield inner if i == 0 else "," + inner
            yield from _parts(item, inner)
        yield newline + "]"
    elif type(value) is dict:
        if not value:
            yield "{}"
            return
        inner = newline + "  "
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            if type(key) is not str:
                raise _Other
            yield (inner if i == 0 else "," + inner) + _string(key) + ": "
            yield from _parts(item, inner)
        yield newline + "}"
    else:
        raise _Other
