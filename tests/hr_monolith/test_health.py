"""The monolith's `/health/`: the database answers and the outbox is drained (backlog, oldest
pending row, parked rows within their thresholds); 503 naming what fails. `/health/live/` too."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.people import services

pytestmark = pytest.mark.django_db


def get(path: str = "/health/") -> tuple[int, dict]:
    response = Client().get(path)
    return response.status_code, response.json()


def make_users(count: int) -> None:
    for i in range(count):
        services.user_create(email=f"h{i}@example.com", first_name="H", last_name=str(i))


def test_an_empty_outbox_is_healthy():
    status, body = get()
    assert status == 200, body
    assert body["checks"] == {"database": "ok", "outbox": "ok"}
    assert body["figures"] == {
        "outbox_backlog": 0,
        "outbox_oldest_pending_age_seconds": 0.0,
        "outbox_parked_rows": 0,
    }


def test_a_backlog_past_its_threshold_is_a_503(settings):
    make_users(3)
    settings.HEALTH_MAX_OUTBOX_BACKLOG = 2
    status, body = get()
    assert (status, body["failing"]) == (503, ["outbox"])
    assert body["checks"]["outbox"] == "error: outbox_backlog 3 > 2"


def test_an_old_pending_row_is_a_503(settings):
    make_users(1)
    OutboxEvent.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=5))
    status, body = get()
    assert (status, body["failing"]) == (503, ["outbox"])
    assert body["figures"]["outbox_oldest_pending_age_seconds"] >= 300

    settings.HEALTH_MAX_OUTBOX_AGE_SECONDS = 3600
    assert get()[0] == 200


def test_a_parked_row_is_a_503():
    make_users(1)
    OutboxEvent.objects.update(failed_at=timezone.now())
    status, body = get()
    assert (status, body["failing"]) == (503, ["outbox"])
    assert body["figures"]["outbox_parked_rows"] == 1


def test_a_database_that_does_not_answer_is_a_503_without_its_error_text(monkeypatch):
    def broken(*args, **kwargs):
        raise connection.Database.OperationalError("could not connect to server at 10.0.0.7")

    monkeypatch.setattr(connection, "cursor", broken)
    status, body = get()
    assert status == 503
    assert set(body["failing"]) == {"database", "outbox"}
    assert body["checks"]["database"] == "error"
    assert "10.0.0.7" not in str(body)


def test_live_answers_without_the_database(monkeypatch):
    def broken(*args, **kwargs):
        raise connection.Database.OperationalError("down")

    monkeypatch.setattr(connection, "cursor", broken)
    assert get("/health/live/") == (200, {"status": "ok"})
