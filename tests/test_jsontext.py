"""timens.jsontext reads and writes JSON exactly as json does, for any value and any text."""
import json

import pytest
from hypothesis import given, strategies as st

from timens import jsontext

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner) | st.tuples(inner, inner) | st.dictionaries(st.text() | st.integers(), inner),
    max_leaves=30,
)
LISTING = {"schema": "timens.list/1", "namespaces": [
    {"inode": 4026531834, "name": None, "host": True, "offsets": {"monotonic_ns": 0, "realtime_ns": None},
     "advanced": {}, "processes": 3, "command": "sh -c 'é\t\U0001f600'"}, []]}


@given(values, st.sampled_from([None, 2]), st.booleans())
def test_same_text_as_json(value, indent, sort_keys):
    try:
        expected = json.dumps(value, indent=indent, sort_keys=sort_keys)
    except TypeError:  # keys json itself cannot sort
        return
    assert jsontext.dumps(value, indent=indent, sort_keys=sort_keys) == expected


@pytest.mark.parametrize("indent", [None, 2])
def test_a_listing_as_timens_prints_it(indent):
    assert jsontext.dumps(LISTING, indent=indent) == json.dumps(LISTING, indent=indent)


def outcome(read, text):
    try:
        return "value", read(text)
    except ValueError as err:
        return type(err), str(err)


@given(values.map(json.dumps) | st.text() | st.binary())
def test_same_values_and_errors_as_json(text):
    got, want = outcome(jsontext.loads, text), outcome(json.loads, text)
    assert repr(got) == repr(want)  # repr: NaN equals itself there


@pytest.mark.parametrize("text", [b'{"a": [1, 2.5, "\\u00e9"]}\n', ' {"a": 1} x', "[1,]", "\ufeff{}", b"\xff", "  NaN "])
def test_same_on_edges(text):
    assert repr(outcome(jsontext.loads, text)) == repr(outcome(json.loads, text))
