"""`manage.py users trace <event_id>` and the staff page `/ops/trace/<event_id>/`: one event's hops
in order, from the monolith's outbox (over HTTP), the bridge's hand-off record, the task result
and the inbox, with the time between hops, and nothing personal."""

from __future__ import annotations

import datetime
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_celery_results.models import TaskResult

from devstack.processes import free_port
from events import types
from tests.users_service.events import new_user_id, user_state_event
from tests.users_service.test_upstream import Scripted
from users_service.bridge.models import HandOff
from users_service.directory.services import apply_user_event

pytestmark = pytest.mark.django_db

EMAIL = "katherine.johnson@example.com"
TASK = "directory.apply_user_event"
T0 = datetime.datetime(2026, 12, 1, 10, 0, 0, tzinfo=datetime.UTC)
HOPS = [
    "created",
    "written",
    "published",
    "received",
    "handed over",
    "task started",
    "task finished",
    "applied",
]


def at(ms: float) -> datetime.datetime:
    return T0 + datetime.timedelta(milliseconds=ms)


@pytest.fixture
def monolith(settings):
    scripted = Scripted()
    settings.MONOLITH_URL = scripted.url
    settings.MONOLITH_API_TOKEN = "service-token"
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()


@pytest.fixture
def applied_event(monolith):
    """One user.created through every hop: the monolith's row (over HTTP), a hand-off, a task
    result and the inbox entry, at known times."""
    envelope = user_state_event(new_user_id(), 1, types.USER_CREATED, email=EMAIL, first_name="Katherine")
    envelope["occurred_at"] = at(0).isoformat().replace("+00:00", "Z")
    event_id, task_id = envelope["event_id"], f"{envelope['event_id']}:{TASK}"
    monolith.body = json.dumps(
        {
            "event_id": event_id,
            "event_type": types.USER_CREATED,
            "aggregate_type": "user",
            "aggregate_id": envelope["aggregate_id"],
            "aggregate_version": 1,
            "occurred_at": envelope["occurred_at"],
            "trace_id": envelope["trace_id"],
            "traceparent": f"00-{envelope['trace_id']}-00f067aa0ba902b7-01",
            "created_at": at(2).isoformat(),
            "sent_at": at(30).isoformat(),
            "attempts": 1,
            "state": "sent",
        }
    ).encode()
    HandOff.objects.create(
        event_id=event_id,
        event_type=types.USER_CREATED,
        aggregate_id=envelope["aggregate_id"],
        trace_id=envelope["trace_id"],
        task_ids=[task_id],
        received_at=at(45),
        handed_at=at(47),
        envelope=envelope,
    )
    TaskResult.objects.create(task_id=task_id, task_name=TASK, status="SUCCESS", date_started=at(50))
    # date_done is auto_now: set the time the worker stored.
    TaskResult.objects.filter(task_id=task_id).update(date_done=at(62))
    apply_user_event(envelope=envelope, task_name=TASK)
    from users_service.directory.models import InboxEntry

    InboxEntry.objects.filter(event_id=event_id).update(processed_at=at(60))
    return envelope


def test_the_command_prints_every_hop_in_order_with_the_time_between(applied_event, monolith):
    out = io.StringIO()
    call_command("trace", applied_event["event_id"], "--json", stdout=out)
    timeline = json.loads(out.getvalue())
    assert [hop["name"] for hop in timeline["hops"]] == HOPS
    assert [hop["since_previous_ms"] for hop in timeline["hops"]] == [None, 2, 28, 15, 2, 3, 12, -2]
    assert timeline["total_ms"] == 60
    assert timeline["trace_id"] == applied_event["trace_id"]
    assert timeline["user_id"] == applied_event["aggregate_id"]
    assert timeline["notes"] == []
    # The monolith was asked with the service's token, for this event only.
    assert monolith.requests == [(f"/api/outbox/{applied_event['event_id']}/", {}, "Token service-token")]


def test_the_text_timeline_names_each_hop_and_nothing_personal(applied_event):
    out = io.StringIO()
    call_command("trace", applied_event["event_id"], stdout=out)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == f"event {applied_event['event_id']} user.created"
    hop_lines = lines[2 : 2 + len(HOPS)]
    assert [line.split("  ")[1].strip() for line in hop_lines] == HOPS
    assert "+28.0 ms" in hop_lines[2]
    assert "total 60.0 ms" in text
    assert EMAIL not in text
    assert "Katherine" not in text


def test_without_the_monolith_the_envelope_dates_the_event(applied_event, settings):
    settings.MONOLITH_URL = f"http://127.0.0.1:{free_port()}"
    out = io.StringIO()
    call_command("trace", applied_event["event_id"], "--json", stdout=out)
    timeline = json.loads(out.getvalue())
    assert [hop["name"] for hop in timeline["hops"]] == ["created", *HOPS[3:]]
    assert timeline["hops"][1]["since_previous_ms"] == 45
    assert timeline["notes"][0].startswith("monolith outbox not read (UpstreamUnavailable")


def test_an_unknown_or_malformed_event_id_is_a_command_error(monolith):
    monolith.status, monolith.body = 404, b"{}"
    with pytest.raises(CommandError, match="no record of event"):
        call_command("trace", "00000000-0000-4000-8000-000000000000", stdout=io.StringIO())
    with pytest.raises(CommandError, match="not an event id"):
        call_command("trace", "nope", stdout=io.StringIO())


def test_the_staff_page_shows_the_timeline(applied_event):
    users = get_user_model()
    staff, reader = Client(), Client()
    staff.force_login(users.objects.create_user("ops-staff", is_staff=True))
    reader.force_login(users.objects.create_user("ops-reader"))
    path = f"/ops/trace/{applied_event['event_id']}/"

    page = staff.get(path, secure=True)
    assert page.status_code == 200
    html = page.content.decode()
    positions = [html.index(f"<td>{hop}</td>") for hop in HOPS]
    assert positions == sorted(positions)
    assert "+28.0 ms" in html
    assert applied_event["trace_id"] in html
    assert EMAIL not in html
    assert "Katherine" not in html
    assert reader.get(path, secure=True).status_code == 302
    search = staff.get("/ops/trace/", {"event_id": applied_event["event_id"]}, secure=True)
    assert search.status_code == 302
    assert search["Location"] == path
    assert staff.get("/ops/trace/", {"event_id": "nope"}, secure=True).status_code == 400
