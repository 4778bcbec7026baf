"""The monolith's API against its own OpenAPI schema, fuzzed in-process (tests/scans): reads and
writes (a superuser's token), so generated users, catalogue entries and erases all go through."""

from __future__ import annotations

import pytest

from hr_monolith.wsgi import application
from tests.scans.schema_fuzz import fuzz, load_schema, superuser_headers

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_operation_answers_within_its_schema(django_user_model, settings):
    settings.RESOURCES_LATENCY_MS = 0  # the slow endpoint's simulated latency
    headers = superuser_headers(django_user_model)
    failures = fuzz(load_schema(application, headers), headers)
    assert failures == {}, "\n\n".join(f"{name}: {error}" for name, error in failures.items())
