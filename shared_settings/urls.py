"""The routes both services answer alike: admin, health, liveness, metrics, the OpenAPI schema and
Swagger UI. Each service's `urls.py` starts its patterns with these and adds its own API."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shared_settings.health import live

View = Callable[[HttpRequest], HttpResponse]


def service_urlpatterns(*, health: View, metrics: View) -> list[URLPattern | URLResolver]:
    """The common routes, with the service's own `/health/` and `/metrics` views."""
    return [
        path("admin/", admin.site.urls),
        path("health/", health, name="health"),
        path("health/live/", live, name="health-live"),
        path("metrics", require_safe(metrics), name="metrics"),
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    ]
