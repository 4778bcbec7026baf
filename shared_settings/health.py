"""How both services answer `/health/` and `/health/live/`.

`/health/` runs the service's checks (reachability of each part, then the pipeline's figures
against thresholds from the settings) and answers 200 or 503 with JSON naming what fails. Anyone
sees which check failed, the figures, and which threshold a figure crossed; only a staff session
sees an exception's text (it may name hosts, ports or credentials).
`/health/live/` says only that the process answers: a liveness probe must not restart a web
process because a dependency is down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

OK = "ok"
ERROR = "error"


class Unhealthy(Exception):
    """A check's part answered, but a figure is past its threshold: the message says which."""


@dataclass
class CheckResult:
    status: str
    #: The exception (shown to staff only) or the threshold crossed (shown to anyone).
    detail: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    public: bool = False

    def shown(self, *, staff: bool) -> str:
        if self.status == OK or not (staff or self.public):
            return self.status
        return f"{self.status}: {self.detail}"


#: A check returns its figures (may be empty) or raises: `Unhealthy` for a figure past its
#: threshold, anything else for a part that does not answer.
Check = Callable[[], Mapping[str, Any] | None]


def run_check(check: Check) -> CheckResult:
    try:
        figures = check() or {}
    except Unhealthy as exc:
        return CheckResult(ERROR, str(exc)[:300], dict(getattr(exc, "figures", {}) or {}), public=True)
    except Exception as exc:  # any failure of a part means "not healthy", reported by name
        return CheckResult(ERROR, f"{type(exc).__name__}: {exc}"[:300])
    return CheckResult(OK, figures=dict(figures))


def unhealthy(message: str, **figures: Any) -> Unhealthy:
    """An `Unhealthy` that still reports its figures (the queue depth that crossed the line)."""
    exc = Unhealthy(message)
    exc.figures = figures  # type: ignore[attr-defined]
    return exc


def health_response(
    request: HttpRequest, checks: Mapping[str, Check], extra: Mapping[str, Any] | None = None
) -> JsonResponse:
    """200 when every check passes, else 503; `failing` names the checks that did not."""
    results = {name: run_check(check) for name, check in checks.items()}
    staff = bool(getattr(request, "user", None) and request.user.is_active and request.user.is_staff)
    body: dict[str, Any] = {
        "status": ERROR if any(r.status != OK for r in results.values()) else OK,
        "checks": {name: result.shown(staff=staff) for name, result in results.items()},
        "failing": [name for name, result in results.items() if result.status != OK],
        "figures": {key: value for result in results.values() for key, value in result.figures.items()},
        **(extra or {}),
    }
    return JsonResponse(body, status=503 if body["failing"] else 200)


@never_cache
@require_safe
def live(request: HttpRequest) -> JsonResponse:
    """The process answers HTTP: no database, no Redis, no SQS."""
    return JsonResponse({"status": OK})
