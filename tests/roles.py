"""The role x endpoint matrix both services' tests check: who gets which status on each route.

Each service's test lists, for every route of its URL conf, the status every role gets for
each method. The routes come from the URL conf itself, so a new route without expectations
fails the test instead of shipping unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

#: Who calls: nobody logged in; a plain login (a service account); an account holding model
#: permissions but not staff; staff without permissions; a superuser.
ROLES = ("anonymous", "reader", "permitted", "staff", "superuser")
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")

#: One row per method: the status of each role, in `ROLES` order.
Row = tuple[int, int, int, int, int]


def url_routes() -> set[str]:
    """Every route of the project's URL conf; an included URL conf (the admin) by its prefix."""
    return {str(entry.pattern) for entry in get_resolver().url_patterns}


def role_clients(permissions: Iterable[str]) -> dict[str, APIClient]:
    """A client per role, each with an API token and a session (admin pages use the session).

    `permissions` (`app_label.codename`) go to the `permitted` account only.
    """
    users = get_user_model()
    accounts = {
        "reader": users.objects.create_user("role-reader"),
        "permitted": users.objects.create_user("role-permitted"),
        "staff": users.objects.create_user("role-staff", is_staff=True),
        "superuser": users.objects.create_superuser("role-superuser"),
    }
    for label in permissions:
        app_label, codename = label.split(".")
        accounts["permitted"].user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    clients = {"anonymous": APIClient()}
    for role, account in accounts.items():
        client = APIClient()
        client.force_login(account)
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=account).key}")
        clients[role] = client
    return clients


@dataclass(frozen=True)
class Call:
    """One request of a cell: where and with which JSON body."""

    path: str
    body: dict | None = None


def observed_matrix(
    clients: dict[str, APIClient], route: str, methods: Iterable[str], call_for: Callable[[str, str], Call]
) -> dict[str, Row]:
    """The status of each role for each method; `call_for(route, method)` builds a fresh target
    for each request, so that a DELETE by one role does not turn the next role's into a 404."""
    matrix = {}
    for method in methods:
        statuses = []
        for role in ROLES:
            call = call_for(route, method)
            body = json.dumps(call.body) if call.body is not None else ""
            response = clients[role].generic(method, call.path, body, content_type="application/json")
            statuses.append(response.status_code)
        matrix[method] = tuple(statuses)
    return matrix


def matrix_differences(expected: dict[str, Row], observed: dict[str, Row]) -> list[str]:
    """One line per cell that differs: `PATCH reader: expected 403, got 200`."""
    lines = []
    for method, row in expected.items():
        for role, want, got in zip(ROLES, row, observed[method], strict=True):
            if want != got:
                lines.append(f"{method} {role}: expected {want}, got {got}")
    return lines
