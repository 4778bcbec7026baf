"""The fast validator (jsonschema-rs) and the reference (jsonschema) give the same verdict on
envelopes, whatever field is changed or removed (strings of ASCII: the two read `\\d` and `\\s`
differently beyond it, which `validate_envelope` resolves by accepting what either accepts)."""

from __future__ import annotations

import json
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from events import types
from events.validation import _fast, _load
from tests.events.test_envelope import user_event

ascii_text = st.text(string.printable, max_size=40)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ascii_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(ascii_text, children, max_size=3),
    max_leaves=8,
)
FIELDS = [
    *sorted(user_event().to_dict()),
    *(f"payload.{name}" for name in sorted(user_event().to_dict()["payload"])),
    "payload.extra",
    "extra",
]


@given(
    event_type=st.sampled_from(sorted(types.ALL_TYPES)),
    field=st.sampled_from(FIELDS),
    value=values,
    remove=st.booleans(),
)
@settings(max_examples=500, deadline=None)
def test_fast_and_reference_validators_agree(event_type, field, value, remove):
    data = json.loads(user_event(event_type).to_json())
    *parents, name = field.split(".")
    target = data["payload"] if parents else data
    if remove:
        target.pop(name, None)
    else:
        target[name] = value
    key = (event_type, 1)
    reference, _ = _load()

    assert _fast()[key].is_valid(data) == reference[key].is_valid(data)
