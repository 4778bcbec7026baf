"""A GDPR erase leaves nothing of the person in the monolith's database: not in the outbox (sent or
pending rows), not in admin's history, not in resource grants, not in any other table."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from events.publisher import SnsPublisher
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.relay import OutboxRelay
from hr_monolith.outbox.services import outbox_resend
from hr_monolith.people import services as people
from hr_monolith.people.models import User
from hr_monolith.resources import services as resources
from hr_monolith.resources.models import ResourceGrant
from tests.conftest import receive_all
from tests.database_scan import cells_holding

#: In the person's names and email, and nowhere else.
MARKER = "Zqxv7marker"


def relay_pass(sns, topology) -> None:
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn))
    try:
        while relay.relay_once().claimed:
            pass
    finally:
        relay.close()


def delivered(sqs, topology) -> list[dict]:
    return [json.loads(json.loads(m["Body"])["Message"]) for m in receive_all(sqs, topology.queue_url)]


def erase_leaves_no_trace(client, catalogue_entries, sns, sqs, topology) -> None:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    person = people.user_create(
        email=f"ada.{MARKER}@example.com",
        first_name=f"Ada{MARKER}",
        last_name=f"Lovelace{MARKER}",
        department=catalogue_entries["eng"],
    )
    resources.resource_grant(user_id=person.id, resource="vpn")
    resources.resource_grant(user_id=person.id, resource="wiki", level="write")
    other = people.user_create(email="grace@example.com", first_name="Grace", last_name="Hopper")
    relay_pass(sns, topology)  # created + two grants are sent; their envelopes name the person
    delivered(sqs, topology)

    # A change through the admin: its history entry names the person.
    form = {
        "email": f"ada.{MARKER}@example.com",
        "first_name": f"Augusta{MARKER}",
        "last_name": f"Lovelace{MARKER}",
        "department": catalogue_entries["fin"].pk,
        "position": "",
        "location": "",
        "start_date": "",
        "end_date": "",
    }
    response = client.post(f"/admin/people/user/{person.id}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    # Pending when the erase comes: an update, a deactivation, a grant; and the other person's update.
    people.user_update(user_id=person.id, data={"last_name": f"King{MARKER}"})
    people.user_deactivate(user_id=person.id)
    resources.resource_grant(user_id=person.id, resource="git")
    people.user_update(user_id=other.id, data={"last_name": "Murray"})

    # The scan finds the marker where the person is (else it could not fail).
    before = cells_holding(MARKER)
    assert {"people_user.email", "outbox_outboxevent.envelope", "django_admin_log.object_repr"} <= before
    sent_before = OutboxEvent.objects.filter(aggregate_id=str(person.id)).sent().count()
    assert sent_before == 3
    assert OutboxEvent.objects.filter(aggregate_id=str(person.id)).pending().count() == 4

    # Erased through the admin, whose deletion writes one more history entry naming the person.
    response = client.post(f"/admin/people/user/{person.id}/delete/", {"post": "yes"})
    assert response.status_code == 302

    assert cells_holding(MARKER) == set()
    assert not User.objects.filter(pk=person.id).exists()
    assert not ResourceGrant.objects.filter(user_id=person.id).exists()
    rows = list(OutboxEvent.objects.filter(aggregate_id=str(person.id)).order_by("id"))
    # The sent rows, redacted to the id, and the erase event; the pending ones were dropped.
    assert [(r.event_type, r.state) for r in rows] == [
        ("user.created", "sent"),
        ("user.resources_changed", "sent"),
        ("user.resources_changed", "sent"),
        ("user.erased", "pending"),
    ]
    assert all(r.envelope["payload"] == {"id": str(person.id)} for r in rows)
    assert all(r.redacted_at is not None for r in rows[:3])
    assert rows[-1].aggregate_version == 5  # created 1, admin change 2, update 3, deactivated 4, erased 5

    # The relay then publishes the erase (the person's newest version) and the other person's update.
    relay_pass(sns, topology)
    after = delivered(sqs, topology)
    assert MARKER.lower() not in json.dumps(after).lower()
    assert sorted((e["aggregate_id"], e["event_type"], e["aggregate_version"]) for e in after) == sorted(
        [(str(person.id), "user.erased", rows[-1].aggregate_version), (str(other.id), "user.updated", 2)]
    )
    assert not OutboxEvent.objects.pending().exists()
    # A redacted row is never re-sent: its payload no longer fits its type, and the erase supersedes it.
    assert outbox_resend(ids=[row.pk for row in rows]) == 1  # the erase event only


@pytest.mark.django_db
def test_an_erased_person_leaves_no_trace_in_any_table(client, catalogue_entries, sns, sqs, topology):
    erase_leaves_no_trace(client, catalogue_entries, sns, sqs, topology)


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_erased_person_leaves_no_trace_in_any_table_on_postgres(
    client, catalogue_entries, sns, sqs, topology
):
    erase_leaves_no_trace(client, catalogue_entries, sns, sqs, topology)
