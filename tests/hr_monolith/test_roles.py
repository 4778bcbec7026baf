"""Who may do what on the monolith: every route of the URL conf x every method x every role.

Reads need a login; writes need staff or the Django model permission of what they change
(people.user, resources.resourcegrant, catalogue.<kind>); `/health/`, `/health/live/` and `/metrics` are open.
"""

from __future__ import annotations

import itertools
import uuid

import pytest

from hr_monolith.catalogue import services as catalogue
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.people import services as people
from hr_monolith.resources import services as resources
from tests.hr_monolith.conftest import WRITABLE_MODELS, token_client
from tests.roles import METHODS, Call, Row, matrix_differences, observed_matrix, role_clients, url_routes

pytestmark = pytest.mark.django_db

#: The model permissions of the `permitted` role: add, change and delete of every writable model.
MODEL_PERMISSIONS = [
    f"{label.split('.')[0]}.{action}_{label.split('.')[1]}"
    for label, action in itertools.product(WRITABLE_MODELS, ("add", "change", "delete"))
]

# Roles:                   anonymous reader permitted staff superuser
READ: Row = (401, 200, 200, 200, 200)
#: A method the view does not have: refused by the permissions first, then 405.
WRITE_NOT_ALLOWED: Row = (401, 403, 405, 405, 405)
#: A method the view does not have, for a method any login may try (GET): 405 once logged in.
READ_NOT_ALLOWED: Row = (401, 405, 405, 405, 405)


def write(status: int) -> Row:
    return (401, 403, status, status, status)


def user_routes() -> dict[str, dict[str, Row]]:
    return {
        "api/users/": {
            "GET": READ,
            "POST": write(201),
            "PATCH": WRITE_NOT_ALLOWED,
            "PUT": WRITE_NOT_ALLOWED,
            "DELETE": WRITE_NOT_ALLOWED,
        },
        "api/users/<uuid:user_id>/": {
            "GET": READ,
            "POST": WRITE_NOT_ALLOWED,
            "PATCH": write(200),
            "PUT": WRITE_NOT_ALLOWED,
            "DELETE": write(204),
        },
        **{
            f"api/users/<uuid:user_id>/{action}/": {
                "GET": READ_NOT_ALLOWED,
                "POST": write(200),
                "PATCH": WRITE_NOT_ALLOWED,
                "PUT": WRITE_NOT_ALLOWED,
                "DELETE": WRITE_NOT_ALLOWED,
            }
            for action in ("deactivate", "reactivate")
        },
        "api/users/<uuid:user_id>/resources/": {
            "GET": READ,
            "POST": write(201),
            "PATCH": WRITE_NOT_ALLOWED,
            "PUT": WRITE_NOT_ALLOWED,
            "DELETE": WRITE_NOT_ALLOWED,
        },
        "api/users/<uuid:user_id>/resources/<str:resource>/": {
            "GET": READ_NOT_ALLOWED,
            "POST": WRITE_NOT_ALLOWED,
            "PATCH": WRITE_NOT_ALLOWED,
            "PUT": WRITE_NOT_ALLOWED,
            "DELETE": write(204),
        },
    }


def catalogue_routes() -> dict[str, dict[str, Row]]:
    routes = {}
    for kind in ("departments", "positions", "locations"):
        routes[f"api/{kind}/"] = {
            "GET": READ,
            "POST": write(201),
            "PATCH": WRITE_NOT_ALLOWED,
            "PUT": WRITE_NOT_ALLOWED,
            "DELETE": WRITE_NOT_ALLOWED,
        }
        routes[f"api/{kind}/<str:code>/"] = {
            "GET": READ,
            "POST": WRITE_NOT_ALLOWED,
            "PATCH": write(200),
            "PUT": WRITE_NOT_ALLOWED,
            "DELETE": WRITE_NOT_ALLOWED,
        }
    return routes


EXPECTED: dict[str, dict[str, Row]] = {
    "health/": {"GET": (200, 200, 200, 200, 200)} | {m: (405,) * 5 for m in METHODS if m != "GET"},
    "health/live/": {"GET": (200, 200, 200, 200, 200)} | {m: (405,) * 5 for m in METHODS if m != "GET"},
    "metrics": {"GET": (200, 200, 200, 200, 200)} | {m: (405,) * 5 for m in METHODS if m != "GET"},
    "api/schema/": {"GET": READ} | {m: READ_NOT_ALLOWED for m in METHODS if m != "GET"},
    "api/docs/": {"GET": READ} | {m: READ_NOT_ALLOWED for m in METHODS if m != "GET"},
    # The admin site: staff only (what staff may change there is Django's model permissions).
    "admin/": {"GET": (302, 302, 302, 200, 200)},
    **user_routes(),
    **catalogue_routes(),
    # An event's outbox row (ids and times, for the users service's trace): staff, or the
    # `outbox.view_outboxevent` permission, which no role here holds.
    "api/outbox/<uuid:event_id>/": {"GET": (401, 403, 403, 200, 200)}
    | {m: (401, 403, 403, 405, 405) for m in METHODS if m != "GET"},
}


class Targets:
    """A fresh employee (with a grant) and catalogue entries for each request of the matrix."""

    def __init__(self) -> None:
        self.serial = itertools.count()

    def call(self, route: str, method: str) -> Call:
        n = next(self.serial)
        user = people.user_create(email=f"role{n}@example.com", first_name="Role", last_name=str(n))
        resources.resource_grant(user_id=user.id, resource="vpn")
        kind = route.split("/")[1] if route.count("/") > 1 else ""
        code = f"R{n}"
        if kind in ("departments", "positions", "locations"):
            catalogue.catalogue_entry_create(kind=kind, code=code, name="Role")
        path = "/" + route.replace("<uuid:user_id>", str(user.id)).replace("<str:resource>", "vpn").replace(
            "<str:code>", code
        ).replace("<uuid:event_id>", str(OutboxEvent.objects.latest("id").event_id))
        body: dict | None = None
        if route == "api/users/":
            email = f"new{n}-{uuid.uuid4().hex[:6]}@example.com"
            body = {"email": email, "first_name": "N", "last_name": "N"}
        elif route == "api/users/<uuid:user_id>/":
            body = {"last_name": "Changed"}
        elif route == "api/users/<uuid:user_id>/resources/":
            body = {"resource": "wiki", "level": "write"}
        elif kind in ("departments", "positions", "locations"):
            body = {"code": f"NEW{n}", "name": "New"} if method == "POST" else {"name": "Renamed"}
        return Call(path, body)


def test_every_route_of_the_url_conf_has_expectations():
    assert url_routes() == set(EXPECTED)


@pytest.mark.parametrize("route", sorted(EXPECTED))
def test_each_role_gets_the_expected_status(route, settings):
    settings.RESOURCES_LATENCY_MS = 0
    clients = role_clients(MODEL_PERMISSIONS)
    expected = EXPECTED[route]
    observed = observed_matrix(clients, route, expected, Targets().call)
    assert not matrix_differences(expected, observed), "\n".join(matrix_differences(expected, observed))


def test_each_write_needs_its_own_model_permission(db):
    """`change_user` lets an account update and deactivate, not create, erase or grant."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    account = get_user_model().objects.create_user("changer")
    change_user = Permission.objects.get(content_type__app_label="people", codename="change_user")
    account.user_permissions.add(change_user)
    client = token_client(account)
    user = people.user_create(email="target@example.com", first_name="T", last_name="T")

    assert client.patch(f"/api/users/{user.id}/", {"last_name": "X"}, format="json").status_code == 200
    assert client.post(f"/api/users/{user.id}/deactivate/").status_code == 200
    body = {"email": "other@example.com", "first_name": "O", "last_name": "O"}
    assert client.post("/api/users/", body, format="json").status_code == 403
    grant = client.post(f"/api/users/{user.id}/resources/", {"resource": "vpn"}, format="json")
    assert grant.status_code == 403
    assert client.delete(f"/api/users/{user.id}/").status_code == 403
