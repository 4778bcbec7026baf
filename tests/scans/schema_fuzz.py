"""Fuzz a service's REST API from its own OpenAPI schema (drf-spectacular), in-process on the WSGI
app: every operation gets a bounded number of generated requests, and each answer must be no
server error and must match the schema (status code, content type, body, headers).

Each service's test loads the schema (the schema endpoint needs a login: a superuser's token
is made first) and runs every operation's Hypothesis strategy itself: schemathesis's pytest
integration (`from_fixture`) does not run under pytest 9.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import ServerError, not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

#: Generated requests per operation: the scan stays well under a minute for each service.
MAX_EXAMPLES = 10
SCAN_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def superuser_headers(django_user_model: Any) -> dict[str, str]:
    account = django_user_model.objects.create_superuser("fuzz-admin", "fuzz@example.com", "pw")
    return {"Authorization": f"Token {Token.objects.create(user=account).key}"}


def load_schema(wsgi_app: Any, headers: dict[str, str]) -> Any:
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, headers=headers)


def no_server_error_but_a_documented_503(ctx: Any, response: Any, case: Any) -> None:
    """schemathesis's `not_a_server_error`, except the 503 an operation documents: the answer of
    a resource whose upstream (the monolith) is down, which is what it is meant to say then."""
    documented = case.operation.definition.raw.get("responses", {})
    if response.status_code >= 500 and not (response.status_code == 503 and "503" in documented):
        raise ServerError(operation=case.operation.label, status_code=response.status_code)


def fuzz(schema: Any, headers: dict[str, str]) -> dict[str, str]:
    """Run every operation of `schema`; returns {operation: what failed} (empty when all pass)."""
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @SCAN_SETTINGS
        @given(case=operation.as_strategy())
        def scan(case: Any) -> None:
            case.call_and_validate(
                headers=headers,
                # positive_data_acceptance: our APIs check what a schema cannot say (a calendar
                # date, a period of the report's granularity) and answer 400, documented.
                excluded_checks=[not_a_server_error, positive_data_acceptance],
                additional_checks=[no_server_error_but_a_documented_503],
            )

        try:
            scan()
        # schemathesis reports its findings as a BaseExceptionGroup: every operation is scanned.
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    return failures
