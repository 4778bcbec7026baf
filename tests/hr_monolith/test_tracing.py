"""One trace per event, monolith side: the API request's trace goes into the envelope, the outbox
row and the SNS message; each hop's log line carries the event's ids and nothing personal."""

from __future__ import annotations

import json

import pytest

from events.publisher import SnsPublisher
from events.tracecontext import TraceParent
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.relay import OutboxRelay
from tests.conftest import receive_all
from tests.logcapture import json_log_lines

pytestmark = pytest.mark.django_db

CALLER = TraceParent.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
EMAIL = "ada.lovelace@example.com"
NEW_USER = {"email": EMAIL, "first_name": "Adaline", "last_name": "Lovelacey"}


def test_a_callers_traceparent_becomes_the_events_trace(clerk_client):
    response = clerk_client.post("/api/users/", NEW_USER, format="json", HTTP_TRACEPARENT=str(CALLER))
    assert response.status_code == 201, response.content

    row = OutboxEvent.objects.get()
    assert row.envelope["trace_id"] == CALLER.trace_id
    written = TraceParent.parse(row.traceparent)
    assert written is not None
    assert written.trace_id == CALLER.trace_id
    # The request is a span of its own in the caller's trace, and the response names it.
    assert written.span_id != CALLER.span_id
    assert response["traceresponse"] == row.traceparent


def test_without_a_traceparent_each_request_starts_a_trace(clerk_client):
    first = clerk_client.post("/api/users/", NEW_USER, format="json")
    second = clerk_client.post("/api/users/", {**NEW_USER, "email": "b@example.com"}, format="json")
    rows = list(OutboxEvent.objects.order_by("id"))
    assert [TraceParent.parse(r.traceparent).trace_id for r in rows] == [r.envelope["trace_id"] for r in rows]
    assert rows[0].envelope["trace_id"] != rows[1].envelope["trace_id"]
    assert first["traceresponse"] == rows[0].traceparent
    assert second["traceresponse"] == rows[1].traceparent


@pytest.mark.parametrize(
    "bad",
    ["", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "ff-" + "a" * 32 + "-" + "b" * 16 + "-01"],
)
def test_an_invalid_traceparent_is_ignored(clerk_client, bad):
    response = clerk_client.post("/api/users/", NEW_USER, format="json", HTTP_TRACEPARENT=bad)
    assert response.status_code == 201
    trace_id = OutboxEvent.objects.get().envelope["trace_id"]
    assert len(trace_id) == 32
    assert trace_id not in ("0" * 32, "a" * 32)


def test_the_relay_publishes_the_rows_traceparent_as_an_sns_attribute(clerk_client, sns, sqs, topology):
    clerk_client.post("/api/users/", NEW_USER, format="json", HTTP_TRACEPARENT=str(CALLER))
    row = OutboxEvent.objects.get()
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn))
    try:
        assert relay.relay_once().published == 1
    finally:
        relay.close()
    (message,) = receive_all(sqs, topology.queue_url)
    notification = json.loads(message["Body"])
    assert notification["MessageAttributes"]["traceparent"]["Value"] == row.traceparent


def test_each_monolith_hop_logs_the_events_ids_and_nothing_personal(clerk_client, sns, sqs, topology):
    with json_log_lines() as lines:
        clerk_client.post("/api/users/", NEW_USER, format="json", HTTP_TRACEPARENT=str(CALLER))
        relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn))
        try:
            relay.relay_once()
        finally:
            relay.close()
    row = OutboxEvent.objects.get()
    expected = {"event_id": str(row.event_id), "trace_id": CALLER.trace_id, "user_id": row.aggregate_id}
    for hop in ("user.created written", "user.created published"):
        (line,) = lines.with_event(hop)
        assert {key: line.get(key) for key in expected} == expected, line
        assert line["level"] == "info"
        assert line["timestamp"]
    # The request's own records carry its trace too.
    assert all(line.get("trace_id") == CALLER.trace_id for line in lines if "hr_monolith" in line["logger"])
    assert lines, "nothing was logged"
    for personal in (EMAIL, "Adaline", "Lovelacey"):
        assert personal not in lines.text


def test_an_email_in_a_log_message_is_masked():
    import logging

    with json_log_lines() as lines:
        logging.getLogger("hr_monolith.test").warning(
            "duplicate %s", EMAIL, extra={"email": EMAIL, "first_name": "Adaline", "event_id": "e-1"}
        )
    (line,) = lines
    assert line["event"] == "duplicate [email]"
    assert line["event_id"] == "e-1"
    assert "email" not in line
    assert "first_name" not in line
    assert EMAIL not in lines.text
    assert "Adaline" not in lines.text


def test_with_tracing_on_the_request_span_is_the_parent_of_the_events_next_hop(
    spans, clerk_client, sns, sqs, topology
):
    response = clerk_client.post("/api/users/", NEW_USER, format="json", HTTP_TRACEPARENT=str(CALLER))
    assert response.status_code == 201
    row = OutboxEvent.objects.get()
    (server,) = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
    # Django's instrumentation continued the caller's trace; the event and its row are of it.
    assert format(server.context.trace_id, "032x") == CALLER.trace_id == row.envelope["trace_id"]
    assert row.traceparent == f"00-{CALLER.trace_id}-{format(server.context.span_id, '016x')}-01"

    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn))
    try:
        relay.relay_once()
    finally:
        relay.close()
    # botocore's instrumentation would put its own call span there: each message keeps its event's.
    (message,) = receive_all(sqs, topology.queue_url)
    assert json.loads(message["Body"])["MessageAttributes"]["traceparent"]["Value"] == row.traceparent
    (publish,) = [s for s in spans.get_finished_spans() if s.attributes.get("rpc.method") == "PublishBatch"]
    assert [format(link.context.trace_id, "032x") for link in publish.links] == [CALLER.trace_id]


def test_the_outbox_endpoint_gives_an_events_times_and_ids_only(clerk_client, sns, topology):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework.test import APIClient

    clerk_client.post("/api/users/", NEW_USER, format="json", HTTP_TRACEPARENT=str(CALLER))
    row = OutboxEvent.objects.get()
    service = get_user_model().objects.create_user("users-service")
    client = APIClient()
    client.force_authenticate(service)
    assert client.get(f"/api/outbox/{row.event_id}/").status_code == 403
    service.user_permissions.add(Permission.objects.get(codename="view_outboxevent"))
    client.force_authenticate(get_user_model().objects.get(pk=service.pk))
    pending = client.get(f"/api/outbox/{row.event_id}/")
    assert pending.status_code == 200
    assert pending.json()["state"] == "pending"
    assert pending.json()["sent_at"] is None

    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn))
    try:
        relay.relay_once()
    finally:
        relay.close()
    sent = client.get(f"/api/outbox/{row.event_id}/").json()
    row.refresh_from_db()
    assert sent["state"] == "sent"
    assert sent["event_id"] == str(row.event_id)
    assert sent["trace_id"] == CALLER.trace_id
    assert sent["traceparent"] == row.traceparent
    assert sent["occurred_at"] == row.envelope["occurred_at"]
    assert sent["sent_at"] is not None
    assert EMAIL not in json.dumps(sent)
    assert "payload" not in sent
    assert client.get("/api/outbox/00000000-0000-4000-8000-000000000000/").status_code == 404
