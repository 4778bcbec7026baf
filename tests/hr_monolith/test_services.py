"""People services: each change bumps `version` by one and writes its event in the same transaction."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from events.envelope import Envelope
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.people import services
from hr_monolith.people.events import user_snapshot
from hr_monolith.people.models import User

pytestmark = pytest.mark.django_db


def user_events(user_id) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(aggregate_id=str(user_id)).order_by("id"))


def create(catalogue_entries, **overrides) -> User:
    data = {
        "email": "Ada@Example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "department": catalogue_entries["eng"],
        "location": catalogue_entries["lon"],
        "start_date": datetime.date(2020, 1, 2),
    }
    return services.user_create(**(data | overrides))


def test_create_writes_version_1_and_a_valid_created_event(catalogue_entries):
    user = create(catalogue_entries)
    assert user.version == 1
    assert user.email == "ada@example.com"
    [row] = user_events(user.id)
    event = Envelope.from_dict(row.envelope)  # validates against the contract
    assert (event.event_type, event.aggregate_version) == ("user.created", 1)
    assert event.payload == user_snapshot(user)
    assert event.payload["department"] == "ENG"


def test_each_change_bumps_the_version_by_one(catalogue_entries):
    user = create(catalogue_entries)
    services.user_update(user_id=user.id, data={"last_name": "Byron"})
    services.user_update(user_id=user.id, data={"department": catalogue_entries["fin"]})
    services.user_deactivate(user_id=user.id)
    services.user_reactivate(user_id=user.id)
    rows = user_events(user.id)
    assert [(r.event_type, r.aggregate_version) for r in rows] == [
        ("user.created", 1),
        ("user.updated", 2),
        ("user.updated", 3),
        ("user.deactivated", 4),
        ("user.reactivated", 5),
    ]
    assert rows[2].envelope["payload"]["department"] == "FIN"
    assert rows[3].envelope["payload"]["is_active"] is False
    assert User.objects.get(pk=user.id).version == 5


def test_a_change_that_changes_nothing_writes_no_event(catalogue_entries):
    user = create(catalogue_entries)
    services.user_update(user_id=user.id, data={"last_name": "Lovelace"})
    services.user_reactivate(user_id=user.id)  # already active
    assert len(user_events(user.id)) == 1


def test_erase_deletes_the_row_and_publishes_only_the_id(catalogue_entries):
    user = create(catalogue_entries)
    services.user_erase(user_id=user.id)
    assert not User.objects.filter(pk=user.id).exists()
    erased = user_events(user.id)[-1]
    assert erased.event_type == "user.erased"
    assert erased.aggregate_version == 2
    assert erased.envelope["payload"] == {"id": str(user.id)}


def test_failed_change_writes_no_event(catalogue_entries):
    user = create(catalogue_entries)
    with pytest.raises(ValidationError) as exc:
        services.user_update(user_id=user.id, data={"end_date": datetime.date(2019, 1, 1)})
    assert "end_date" in str(exc.value)
    assert len(user_events(user.id)) == 1
    assert User.objects.get(pk=user.id).version == 1


def test_duplicate_email_is_a_field_error(catalogue_entries):
    create(catalogue_entries)
    with pytest.raises(ValidationError) as exc:
        create(catalogue_entries, email="ada@example.com")
    assert "email" in exc.value.message_dict


def test_outbox_row_rolls_back_with_the_change(catalogue_entries):
    def failing_request() -> None:
        with transaction.atomic():
            create(catalogue_entries)
            raise RuntimeError("the request failed after the service call")

    with pytest.raises(RuntimeError):
        failing_request()
    assert not User.objects.exists()
    assert not OutboxEvent.objects.filter(event_type="user.created").exists()


def test_catalogue_changes_emit_catalogue_changed(catalogue_entries):
    from hr_monolith.catalogue.services import catalogue_entry_update

    catalogue_entry_update(kind="departments", code="ENG", name="R&D")
    row = OutboxEvent.objects.filter(event_type="catalogue.changed").order_by("id").last()
    assert row.envelope["payload"] == {
        "kind": "departments",
        "code": "ENG",
        "name": "R&D",
        "change": "updated",
    }
    assert row.aggregate_version == 2
