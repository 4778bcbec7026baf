"""The envelope and its JSON Schemas: what the contract accepts and what it refuses, and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from events import types
from events.envelope import MAX_ENVELOPE_BYTES, Envelope
from events.errors import InvalidEvent, InvalidMessage
from events.validation import known_event_types, validate_envelope
from tests.samples import user_snapshot


def snapshot(**overrides):
    return user_snapshot(**({"email": "ada@example.com"} | overrides))


def user_event(event_type=types.USER_CREATED, version=1, **payload_overrides) -> Envelope:
    """Any type with a full snapshot payload: tests use it to build invalid envelopes too."""
    payload = snapshot(**payload_overrides)
    return Envelope(
        event_type=event_type,
        aggregate_type="user",
        aggregate_id=payload["id"],
        aggregate_version=version,
        producer="hr_monolith",
        payload=payload,
    )


def test_every_contract_type_has_a_schema():
    assert known_event_types() == set(types.ALL_TYPES)


def test_user_state_fields_are_the_snapshot_schema_in_its_order():
    schema = json.loads((Path(types.__file__).parent / "schemas" / "user-snapshot.v1.json").read_text())
    assert ["id", *types.USER_STATE_FIELDS] == list(schema["properties"]) == schema["required"]


def test_envelope_round_trips_through_json():
    event = user_event().validate()
    again = Envelope.from_json(event.to_json())
    assert again == event
    assert json.loads(event.to_json())["occurred_at"].endswith("Z")


def test_unknown_event_type_is_refused():
    data = user_event().to_dict() | {"event_type": "user.promoted"}
    with pytest.raises(InvalidEvent) as exc:
        validate_envelope(data)
    assert exc.value.reason == "unknown_event_type"
    assert "user.promoted" in exc.value.detail


def test_unknown_schema_version_is_refused():
    data = user_event().to_dict() | {"schema_version": 2}
    with pytest.raises(InvalidEvent) as exc:
        validate_envelope(data)
    assert exc.value.reason == "unknown_schema_version"


def test_missing_payload_field_is_refused_with_its_name():
    data = user_event().to_dict()
    del data["payload"]["email"]
    with pytest.raises(InvalidEvent) as exc:
        validate_envelope(data)
    assert exc.value.reason == "schema_violation"
    assert "email" in exc.value.detail


def test_wrong_type_is_refused_with_its_path():
    data = user_event().to_dict()
    data["payload"]["is_active"] = "yes"
    with pytest.raises(InvalidEvent) as exc:
        validate_envelope(data)
    assert exc.value.detail.startswith("payload/is_active")


def test_erased_event_carries_no_personal_data():
    event = user_event(types.USER_ERASED)
    with pytest.raises(InvalidEvent):
        event.validate()
    Envelope(
        event_type=types.USER_ERASED,
        aggregate_type="user",
        aggregate_id=event.aggregate_id,
        aggregate_version=2,
        producer="hr_monolith",
        payload={"id": event.aggregate_id},
    ).validate()


def test_bad_json_and_oversize_bodies_are_invalid_messages():
    with pytest.raises(InvalidMessage) as exc:
        Envelope.from_json("{not json")
    assert exc.value.reason == "bad_json"
    with pytest.raises(InvalidMessage) as exc:
        Envelope.from_json("x" * (MAX_ENVELOPE_BYTES + 1))
    assert exc.value.reason == "too_large"


def test_publish_batches_respect_both_sns_limits():
    from events.publisher import SNS_BATCH_MAX_BYTES, batch_slices

    assert batch_slices([]) == []
    assert batch_slices([100] * 23) == [slice(0, 10), slice(10, 20), slice(20, 23)]
    big = 100_000
    # Three big entries overflow 256 KiB: two to a call; an oversized one stands alone.
    assert batch_slices([big, big, big, 10]) == [slice(0, 2), slice(2, 4)]
    assert batch_slices([10, SNS_BATCH_MAX_BYTES + 1, 10]) == [slice(0, 1), slice(1, 2), slice(2, 3)]


def test_to_dict_is_what_asdict_gives_and_an_independent_copy():
    import dataclasses

    event = user_event()
    data = event.to_dict()
    assert data == dataclasses.asdict(event)
    data["payload"]["email"] = "changed@example.com"
    assert event.payload["email"] == "ada@example.com"
    nested = dataclasses.replace(event, payload={"roles": [{"code": "A"}], "meta": {"tags": ["x"]}})
    copied = nested.to_dict()["payload"]
    copied["roles"][0]["code"] = "B"
    copied["meta"]["tags"].append("y")
    assert nested.payload == {"roles": [{"code": "A"}], "meta": {"tags": ["x"]}}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_bad_json(constant):
    """Python's json reads NaN and Infinity; JSON has no such values and PostgreSQL's jsonb refuses
    them, so an envelope holding one could never be recorded or applied: refused at the door."""
    text = user_event().to_json().replace('"email":"ada@example.com"', f'"email":{constant}')
    with pytest.raises(InvalidMessage) as exc:
        Envelope.from_json(text)
    assert exc.value.reason == "bad_json"


@pytest.mark.parametrize("escape", ["\\u0000", "a\\u0000b"])
def test_a_nul_character_in_any_string_is_bad_json(escape):
    """PostgreSQL stores no U+0000 in text or jsonb: an envelope with one anywhere is refused."""
    text = user_event().to_json().replace('"ada@example.com"', f'"{escape}"')
    with pytest.raises(InvalidMessage) as exc:
        Envelope.from_json(text)
    assert exc.value.reason == "bad_json"
    key_text = user_event().to_json().replace('"email":', '"e\\u0000":', 1)
    with pytest.raises(InvalidMessage):
        Envelope.from_json(key_text)


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul():
    text = user_event().to_json().replace("ada@example.com", "ada\\\\u0000@example.com")
    assert Envelope.from_json(text).payload["email"] == "ada\\u0000@example.com"


def test_the_producer_never_writes_a_non_finite_number():
    event = user_event()
    broken = Envelope(**(event.to_dict() | {"payload": event.payload | {"score": float("nan")}}))
    with pytest.raises(ValueError, match="not JSON compliant"):
        broken.to_json()
