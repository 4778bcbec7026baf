"""The task policy: countdowns bounded by the visibility timeout, backoff, transient errors."""

from __future__ import annotations

import datetime
import json

import pytest
import redis
import requests
from django.conf import settings

from users_service.directory.tasks import apply_user_event
from users_service.task_policy import (
    TRANSIENT_ERRORS,
    CountdownTooLong,
    UpstreamUnavailable,
    check_upstream_response,
    ensure_within_visibility,
    visibility_timeout,
)


def queued(broker_url: str, queue: str) -> list[dict]:
    return [json.loads(raw) for raw in redis.Redis.from_url(broker_url).lrange(queue, 0, -1)]


def test_visibility_timeout_is_set_for_broker_and_result_transport():
    assert (
        settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == settings.CELERY_VISIBILITY_TIMEOUT
    )
    assert (
        settings.CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS["visibility_timeout"]
        == settings.CELERY_VISIBILITY_TIMEOUT
    )
    assert settings.CELERY_RETRY_BACKOFF_MAX < settings.CELERY_VISIBILITY_TIMEOUT


def test_only_json_is_accepted():
    from users_service.celery import app

    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True


def test_every_task_of_the_app_uses_the_policy():
    from users_service.celery import app
    from users_service.task_policy import ServiceTask

    assert isinstance(app.tasks["directory.apply_user_event"], ServiceTask)
    assert isinstance(app.tasks["celery.backend_cleanup"], ServiceTask)


def test_countdown_as_long_as_the_visibility_timeout_is_refused_and_nothing_is_sent(celery_broker):
    with pytest.raises(CountdownTooLong):
        apply_user_event.apply_async(args=[{}], countdown=visibility_timeout())
    eta = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=visibility_timeout() + 60)
    with pytest.raises(CountdownTooLong):
        apply_user_event.apply_async(args=[{}], eta=eta)
    assert queued(celery_broker, "events") == []


def test_countdown_within_the_visibility_timeout_is_sent_to_its_queue(celery_broker):
    apply_user_event.apply_async(args=[{"x": 1}], countdown=5, task_id="t-1")
    [message] = queued(celery_broker, "events")
    assert message["headers"]["id"] == "t-1"
    assert message["headers"]["task"] == "directory.apply_user_event"
    assert message["headers"]["eta"]


def test_naive_eta_is_taken_as_utc():
    now = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
    with pytest.raises(CountdownTooLong):
        ensure_within_visibility(eta=datetime.datetime(2026, 1, 1, 13, 0), limit=3600, now=now)
    ensure_within_visibility(eta=datetime.datetime(2026, 1, 1, 12, 59), limit=3600, now=now)


def _response(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.url = "http://monolith/api/users/x/resources/"
    response.request = requests.Request("GET", response.url).prepare()
    return response


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_upstream_overload_and_server_errors_are_transient(status):
    with pytest.raises(UpstreamUnavailable) as caught:
        check_upstream_response(_response(status))
    assert isinstance(caught.value, TRANSIENT_ERRORS)


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_not_transient(status):
    with pytest.raises(requests.HTTPError) as caught:
        check_upstream_response(_response(status))
    assert not isinstance(caught.value, TRANSIENT_ERRORS)


def test_a_good_response_is_returned():
    assert check_upstream_response(_response(200)).status_code == 200
