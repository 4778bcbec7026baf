"""Contract tests: every payload builder's output passes the consumer's validator, and what
breaks the contract is refused by producer and consumer alike, each with a clear reason."""

from __future__ import annotations

import datetime
import json

import pytest
from django.db import transaction

from events import types
from events.envelope import Envelope
from events.errors import InvalidEvent
from hr_monolith.catalogue import services as catalogue
from hr_monolith.catalogue.services import catalogue_changed_event
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.services import outbox_write
from hr_monolith.people import events, services
from hr_monolith.people.models import User

pytestmark = pytest.mark.django_db

USER_BUILDERS = {
    types.USER_CREATED: events.user_created_event,
    types.USER_UPDATED: events.user_updated_event,
    types.USER_DEACTIVATED: events.user_deactivated_event,
    types.USER_REACTIVATED: events.user_reactivated_event,
    types.USER_ERASED: events.user_erased_event,
    types.USER_RESOURCES_CHANGED: events.user_resources_changed_event,
}


@pytest.fixture
def full_user(catalogue_entries) -> User:
    return services.user_create(
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        department=catalogue_entries["eng"],
        position=catalogue_entries["mgr"],
        location=catalogue_entries["lon"],
        start_date=datetime.date(2020, 1, 2),
        end_date=datetime.date(2030, 1, 1),
    )


@pytest.fixture
def bare_user(db) -> User:
    """No catalogue entries, no dates: every nullable field is null."""
    return services.user_create(email="bare@example.com", first_name="B", last_name="Are")


def built_envelopes(user: User, catalogue_entries) -> dict[str, Envelope]:
    built = {event_type: builder(user) for event_type, builder in USER_BUILDERS.items()}
    built[types.CATALOGUE_CHANGED] = catalogue_changed_event(catalogue_entries["lon"], change="updated")
    return built


def consume(envelope: Envelope) -> Envelope:
    """What the bridge does with a message body: parse and validate."""
    return Envelope.from_json(envelope.to_json())


def test_builders_cover_every_contract_type():
    assert set(USER_BUILDERS) | {types.CATALOGUE_CHANGED} == types.ALL_TYPES


@pytest.mark.parametrize("event_type", sorted(types.ALL_TYPES))
@pytest.mark.parametrize("user_fixture", ["full_user", "bare_user"])
def test_every_builder_output_passes_the_consumers_validator(
    request, event_type, user_fixture, catalogue_entries
):
    user = request.getfixturevalue(user_fixture)
    envelope = built_envelopes(user, catalogue_entries)[event_type]
    consumed = consume(envelope)
    assert consumed == envelope
    assert consumed.event_type == event_type


def test_snapshot_payload_has_exactly_the_contract_fields(full_user):
    payload = events.user_updated_event(full_user).payload
    assert payload == {
        "id": str(full_user.id),
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "department": "ENG",
        "position": "MGR",
        "location": "LON",
        "start_date": "2020-01-02",
        "end_date": "2030-01-01",
        "is_active": True,
    }
    assert events.user_erased_event(full_user).payload == {"id": str(full_user.id)}


def broken(envelope: Envelope, how: str) -> dict:
    data = json.loads(envelope.to_json())
    if how == "unknown_type":
        data["event_type"] = "user.promoted"
    elif how == "unknown_version":
        data["schema_version"] = 99
    elif how == "missing_field":
        del data["payload"][sorted(data["payload"])[0]]
    elif how == "wrong_type":
        data["aggregate_version"] = "three"
    return data


REFUSALS = {
    "unknown_type": ("unknown_event_type", "user.promoted"),
    "unknown_version": ("unknown_schema_version", "99"),
    "missing_field": ("schema_violation", "required property"),
    "wrong_type": ("schema_violation", "aggregate_version"),
}


@pytest.mark.parametrize("how", sorted(REFUSALS))
@pytest.mark.parametrize("event_type", sorted(types.ALL_TYPES))
def test_consumer_refuses_broken_builder_output_with_a_reason(full_user, catalogue_entries, event_type, how):
    data = broken(built_envelopes(full_user, catalogue_entries)[event_type], how)
    with pytest.raises(InvalidEvent) as exc:
        Envelope.from_json(json.dumps(data))
    reason, detail_part = REFUSALS[how]
    assert exc.value.reason == reason
    assert detail_part in exc.value.detail


def test_missing_field_reason_names_the_field(full_user):
    data = json.loads(events.user_updated_event(full_user).to_json())
    del data["payload"]["last_name"]
    with pytest.raises(InvalidEvent) as exc:
        Envelope.from_dict(data)
    assert "'last_name' is a required property" in exc.value.detail


def test_producer_refuses_an_invalid_envelope_and_writes_nothing(full_user):
    before = OutboxEvent.objects.count()
    bad = Envelope(
        event_type=types.USER_UPDATED,
        aggregate_type="user",
        aggregate_id=str(full_user.id),
        aggregate_version=2,
        producer="hr_monolith",
        payload={"id": str(full_user.id)},  # a snapshot type without the snapshot
    )
    with pytest.raises(InvalidEvent) as exc, transaction.atomic():
        outbox_write(bad)
    assert exc.value.reason == "schema_violation"
    assert OutboxEvent.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_outbox_write_outside_a_transaction_is_refused(full_user):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        outbox_write(events.user_updated_event(full_user))


def test_catalogue_changes_emit_catalogue_changed(db):
    entry = catalogue.catalogue_entry_create(kind="positions", code="CTO", name="Chief")
    catalogue.catalogue_entry_update(kind="positions", code="CTO", name="Chief Technology Officer")
    rows = list(OutboxEvent.objects.filter(event_type=types.CATALOGUE_CHANGED, aggregate_id="positions:CTO"))
    assert [(r.aggregate_version, r.envelope["payload"]["change"]) for r in rows] == [
        (1, "created"),
        (2, "updated"),
    ]
    assert rows[-1].envelope["payload"] == {
        "kind": "positions",
        "code": "CTO",
        "name": "Chief Technology Officer",
        "change": "updated",
    }
    assert entry.version == 1


# --- catalogue codes --------------------------------------------------------------------------


def test_the_models_catalogue_code_pattern_is_the_contracts():
    from events.validation import SCHEMA_DIR
    from hr_monolith.catalogue.models import code_validator

    envelope_schema = json.loads((SCHEMA_DIR / "envelope.json").read_text())
    assert code_validator.regex.pattern == envelope_schema["$defs"]["catalogue_code"]["pattern"]


@pytest.mark.parametrize("code", ["bad code!", "", "x" * 33, "ENG\n", "ENG/1"])
@pytest.mark.parametrize("where", ["department", "position", "location", "catalogue.changed"])
def test_a_catalogue_code_outside_the_pattern_is_refused_wherever_it_appears(full_user, where, code):
    if where == "catalogue.changed":
        envelope = Envelope(
            event_type=types.CATALOGUE_CHANGED,
            aggregate_type="catalogue",
            aggregate_id=f"departments:{code}",
            aggregate_version=1,
            producer="hr_monolith",
            payload={"kind": "departments", "code": code, "name": "N", "change": "created"},
        )
    else:
        envelope = events.user_updated_event(full_user)
        envelope = Envelope(**envelope.to_dict() | {"payload": envelope.payload | {where: code}})
    with pytest.raises(InvalidEvent) as refused:
        consume(envelope)
    assert refused.value.reason == "schema_violation"


def test_every_code_the_demo_data_uses_fits_the_contract():
    from hr_monolith.catalogue.models import code_validator
    from hr_monolith.people.management.commands.load_demo_data import CATALOGUE

    for entries in CATALOGUE.values():
        for code, _name in entries:
            code_validator(code)


def test_a_bad_catalogue_code_is_a_400_naming_the_field(staff_client):
    response = staff_client.post("/api/departments/", {"code": "R&D dept", "name": "Research"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["code"]


@pytest.mark.parametrize("code", ["bad code!", "ENG\n", "x" * 33])
def test_the_model_refuses_a_code_outside_the_pattern(db, code):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        catalogue.catalogue_entry_create(kind="departments", code=code, name="N")
    assert "code" in refused.value.message_dict
