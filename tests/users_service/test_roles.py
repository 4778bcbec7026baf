"""Who may do what on the users service: every route of the URL conf x every method x every role.

The API is read-only for any login (the monolith owns the data); `/ops/` and the admin are
for staff; `/health/`, `/health/live/` and `/metrics` are open and answer GET/HEAD only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from events import types
from tests.roles import METHODS, Call, Row, matrix_differences, observed_matrix, role_clients, url_routes
from tests.users_service.cache.support import TOKEN, FakeMonolith
from tests.users_service.events import new_user_id, user_state_event
from users_service import read_through
from users_service.directory.services import apply_user_event
from users_service.reports.models import ReportRun

pytestmark = pytest.mark.django_db

#: The `permitted` role: every view permission of the read model and the reports (it writes nothing).
VIEW_PERMISSIONS = ["directory.view_userrecord", "reports.view_reportrun"]

# Roles:                anonymous reader permitted staff superuser
READ: Row = (401, 200, 200, 200, 200)
NOT_ALLOWED: Row = (401, 405, 405, 405, 405)
OPEN: Row = (200, 200, 200, 200, 200)
OPEN_NOT_ALLOWED: Row = (405, 405, 405, 405, 405)
STAFF_PAGE: Row = (302, 302, 302, 200, 200)


def read_only() -> dict[str, Row]:
    return {"GET": READ} | {method: NOT_ALLOWED for method in METHODS if method != "GET"}


EXPECTED: dict[str, dict[str, Row]] = {
    "health/": {"GET": OPEN} | {method: OPEN_NOT_ALLOWED for method in METHODS if method != "GET"},
    "health/live/": {"GET": OPEN} | {method: OPEN_NOT_ALLOWED for method in METHODS if method != "GET"},
    "metrics": {"GET": OPEN} | {method: OPEN_NOT_ALLOWED for method in METHODS if method != "GET"},
    "api/schema/": read_only(),
    "api/docs/": read_only(),
    "api/users/": read_only(),
    "api/users/<uuid:user_id>/": read_only(),
    "api/users/<uuid:user_id>/resources/": read_only(),
    "api/catalogue/<str:kind>/": read_only(),
    "api/reports/": read_only(),
    "api/reports/<int:run_id>/": read_only(),
    # Staff pages: anyone else is sent to the admin login.
    "ops/": {"GET": STAFF_PAGE},
    "ops/trace/": {"GET": STAFF_PAGE},
    "ops/trace/<uuid:event_id>/": {"GET": STAFF_PAGE},
    "admin/": {"GET": STAFF_PAGE},
}


@pytest.fixture
def monolith(settings) -> Iterator[FakeMonolith]:
    """The stand-in monolith the cached endpoints fill from."""
    server = FakeMonolith().start()
    settings.MONOLITH_URL = server.url
    settings.MONOLITH_API_TOKEN = TOKEN
    read_through.cache_bypass_reset()
    yield server
    server.stop()


def targets(monolith: FakeMonolith):
    """A user in the read model (and the stand-in monolith) and a report run for the detail routes."""
    user_id = new_user_id()
    created = user_state_event(user_id, 1, types.USER_CREATED)
    apply_user_event(envelope=created, task_name="roles")
    monolith.resources[user_id] = []
    now = timezone.now()
    run = ReportRun.objects.create(
        report="headcount_by_department", period="2026-11-23", period_start=now, period_end=now
    )

    def call(route: str, method: str) -> Call:
        path = "/" + route.replace("<uuid:user_id>", user_id).replace("<str:kind>", "departments").replace(
            "<int:run_id>", str(run.pk)
        ).replace("<uuid:event_id>", created["event_id"])
        return Call(path, {"anything": 1} if method != "GET" else None)

    return call


def test_every_route_of_the_url_conf_has_expectations():
    assert url_routes() == set(EXPECTED)


@pytest.mark.parametrize("route", sorted(EXPECTED))
def test_each_role_gets_the_expected_status(route, monolith, healthy_parts):
    clients = role_clients(VIEW_PERMISSIONS)
    expected = EXPECTED[route]
    observed = observed_matrix(clients, route, expected, targets(monolith))
    assert not matrix_differences(expected, observed), "\n".join(matrix_differences(expected, observed))
