from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from hr_monolith.catalogue import services as catalogue


@pytest.fixture
def catalogue_entries(db):
    return {
        "eng": catalogue.catalogue_entry_create(kind="departments", code="ENG", name="Engineering"),
        "fin": catalogue.catalogue_entry_create(kind="departments", code="FIN", name="Finance"),
        "mgr": catalogue.catalogue_entry_create(kind="positions", code="MGR", name="Manager"),
        "lon": catalogue.catalogue_entry_create(kind="locations", code="LON", name="London"),
    }


#: Models whose add/change/delete permissions an HR clerk's account holds (the writes of the API).
WRITABLE_MODELS = (
    "people.user",
    "resources.resourcegrant",
    "catalogue.department",
    "catalogue.position",
    "catalogue.location",
)


def token_client(account) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=account).key}")
    return client


def grant_model_permissions(account, *, actions=("add", "change", "delete")) -> None:
    """Give `account` the Django model permissions `<action>_<model>` of every writable model."""
    for label in WRITABLE_MODELS:
        app_label, model = label.split(".")
        account.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label=app_label, codename__in=[f"{a}_{model}" for a in actions]
            )
        )


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """DRF's throttle history lives in the default cache (per process): none crosses tests."""
    cache.clear()


@pytest.fixture
def api_client(db) -> APIClient:
    """A plain login (like the users service's account): reads only."""
    return token_client(get_user_model().objects.create_user("reader", password="x"))


@pytest.fixture
def clerk_client(db) -> APIClient:
    """Not staff, but holds the model permissions of every write: writes like staff."""
    account = get_user_model().objects.create_user("clerk", password="x")
    grant_model_permissions(account)
    return token_client(account)


@pytest.fixture
def staff_client(db) -> APIClient:
    return token_client(get_user_model().objects.create_user("boss", password="x", is_staff=True))


@pytest.fixture(autouse=True)
def _postgres_marker_needs_postgres(request):
    """A `postgres` test run on SQLite would prove nothing: fail it instead of passing it."""
    if request.node.get_closest_marker("postgres") is None:
        return
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail(
            "this test needs PostgreSQL: run `make test`, or set DATABASE_URL to a PostgreSQL database "
            "and pass `-m postgres`"
        )
