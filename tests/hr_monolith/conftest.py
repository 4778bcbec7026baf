from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
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


@pytest.fixture
def api_client(db) -> APIClient:
    account = get_user_model().objects.create_user("clerk", password="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=account).key}")
    return client


@pytest.fixture
def staff_client(db) -> APIClient:
    account = get_user_model().objects.create_user("boss", password="x", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=account).key}")
    return client


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
