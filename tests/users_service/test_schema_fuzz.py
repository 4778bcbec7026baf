"""The users service's API against its own OpenAPI schema, fuzzed in-process (tests/scans)."""

from __future__ import annotations

import pytest

from devstack.processes import free_port
from tests.scans.schema_fuzz import fuzz, load_schema, superuser_headers
from users_service.wsgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_operation_answers_within_its_schema(django_user_model, settings):
    # The upstream is a port nobody listens on: resources and catalogues answer as when it is down.
    settings.MONOLITH_URL = f"http://127.0.0.1:{free_port()}"
    headers = superuser_headers(django_user_model)
    failures = fuzz(load_schema(application, headers), headers)
    assert failures == {}, "\n\n".join(f"{name}: {error}" for name, error in failures.items())
