"""Invalidation and warming tasks, and their routes: each event drops exactly the entries it names."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import cache

from events import types
from events.envelope import Envelope
from tests.users_service.cache.support import counter
from tests.users_service.events import user_state_event
from users_service import cache_keys
from users_service.catalogue import services as catalogue_services
from users_service.catalogue.selectors import catalogue_entries
from users_service.catalogue.tasks import invalidate_catalogue
from users_service.celery import app
from users_service.directory.models import FailedTask
from users_service.queues import CACHE
from users_service.read_through import InvalidationFailed
from users_service.resources.selectors import resources_for_user
from users_service.resources.tasks import invalidate_resources, warm_resources
from users_service.routing import ROUTES


def catalogue_event(kind: str) -> dict:
    return (
        Envelope(
            event_type=types.CATALOGUE_CHANGED,
            aggregate_type="catalogue",
            aggregate_id=f"{kind}:X",
            aggregate_version=2,
            producer="hr_monolith",
            payload={"kind": kind, "code": "X", "name": "Renamed", "change": "updated"},
        )
        .validate()
        .to_dict()
    )


def resources_changed_event(user_id: str) -> dict:
    return (
        Envelope(
            event_type=types.USER_RESOURCES_CHANGED,
            aggregate_type="user",
            aggregate_id=user_id,
            aggregate_version=1,
            producer="hr_monolith",
            payload={"id": user_id},
        )
        .validate()
        .to_dict()
    )


def test_catalogue_changed_drops_only_that_kind(cache_redis, fake_monolith):
    catalogue_entries(kind="departments")
    catalogue_entries(kind="locations")
    fake_monolith.catalogues["departments"][0]["name"] = "Engineering & Research"

    result = invalidate_catalogue.apply(args=[catalogue_event("departments")])
    assert result.get() == "invalidated departments"

    departments = catalogue_entries(kind="departments")
    assert departments.cache_status == "miss"
    assert departments.json()["results"][0]["name"] == "Engineering & Research"
    assert catalogue_entries(kind="locations").cache_status == "hit"
    assert counter("cache_invalidations_total", "catalogue") == 1


@pytest.mark.parametrize(
    "event",
    [
        resources_changed_event,
        lambda user_id: user_state_event(user_id, 2),
        lambda user_id: user_state_event(user_id, 3, types.USER_ERASED),
    ],
    ids=["resources_changed", "updated", "erased"],
)
def test_user_events_drop_that_users_resources_only(cache_redis, fake_monolith, event):
    ada, bob = fake_monolith.add_user("vpn"), fake_monolith.add_user("wiki")
    resources_for_user(user_id=ada)
    resources_for_user(user_id=bob)

    invalidate_resources.apply(args=[event(ada)]).get()

    assert cache.get(cache_keys.resources(ada)) is None
    assert resources_for_user(user_id=bob).cache_status == "hit"


def test_failed_invalidation_is_logged_counted_and_retried(stoppable_cache, fake_monolith, caplog, db):
    catalogue_entries(kind="departments")
    stoppable_cache.stop()

    with caplog.at_level(logging.ERROR, logger="users_service.read_through"):
        with pytest.raises(InvalidationFailed):
            catalogue_services.catalogue_invalidate(kind="departments")
        result = invalidate_catalogue.apply(args=[catalogue_event("departments")])

    # Run eagerly, the retries happen inline (a worker spaces them with backoff), then it fails.
    assert result.state == "FAILURE"
    assert isinstance(result.result, InvalidationFailed)
    assert "invalidation of" in caplog.text
    service_call, task_runs = 1, 1 + invalidate_catalogue.max_retries
    assert counter("cache_invalidation_failures_total", "catalogue") == service_call + task_runs
    assert counter("cache_invalidations_total", "catalogue") == 0
    # After its last retry the task is kept for admin to re-enqueue, like every task of the service.
    assert FailedTask.objects.filter(task_name="catalogue.invalidate").count() == 1


def test_user_created_warms_the_users_resources(cache_redis, fake_monolith):
    user_id = fake_monolith.add_user("vpn")
    created = user_state_event(user_id, 1, types.USER_CREATED)

    assert warm_resources.apply(args=[created]).get() == "warmed"
    assert warm_resources.apply(args=[created]).get() == "cached"
    assert resources_for_user(user_id=user_id).cache_status == "hit"
    assert fake_monolith.calls[f"/api/users/{user_id}/resources/"] == 1


def test_warming_an_unknown_user_is_done_without_retrying(cache_redis, fake_monolith):
    created = user_state_event("5b1f1f3e-0000-4000-8000-000000000000", 1, types.USER_CREATED)
    assert warm_resources.apply(args=[created]).get() == "unknown user"


def test_routes_send_cache_events_to_registered_tasks_on_the_cache_queue():
    cache_routes = {
        event_type: sorted(r.task for r in routes if r.queue == CACHE.queue)
        for event_type, routes in ROUTES.items()
    }
    assert cache_routes == {
        types.USER_CREATED: ["resources.warm"],
        types.USER_UPDATED: ["resources.invalidate"],
        types.USER_DEACTIVATED: [],
        types.USER_REACTIVATED: [],
        types.USER_ERASED: ["resources.invalidate"],
        types.USER_RESOURCES_CHANGED: ["resources.invalidate"],
        types.CATALOGUE_CHANGED: ["catalogue.invalidate"],
    }
    app.loader.import_default_modules()
    registered = set(app.tasks)
    assert {route.task for routes in ROUTES.values() for route in routes} <= registered
