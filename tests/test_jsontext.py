"""timens.jsontext writes what json.dumps(indent=2) writes, for any value."""
import json

from hypothesis import given, strategies as st

from timens.jsontext import dumps

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner) | st.tuples(inner, inner) | st.dictionaries(st.text() | st.integers(), inner),
    max_leaves=30,
)


@given(values)
def test_same_text_as_json(value):
    assert dumps(value) == json.dumps(value, indent=2)


def test_a_listing_as_timens_prints_it():
    listing = {"schema": "timens.list/1", "namespaces": [
        {"inode": 4026531834, "name": None, "host": True, "offsets": {"monotonic_ns": 0, "realtime_ns": None},
         "advanced": {}, "processes": 3, "command": "sh -c 'é\t\U0001f600'"}, []]}
    assert dumps(listing) == json.dumps(listing, indent=2)
