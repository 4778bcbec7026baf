"""Routes of the users service. `/health/` and `/metrics` are open (GET/HEAD); `/ops/` is for staff;
the API needs a login (tests/users_service/test_roles.py checks every route)."""

from django.contrib.admin.views.decorators import staff_member_required
from django.urls import path

from shared_settings.urls import service_urlpatterns
from users_service.bridge.views import trace_page
from users_service.catalogue.apis import CatalogueApi
from users_service.directory import apis as directory
from users_service.health import health
from users_service.ops.views import metrics_view
from users_service.reports import apis as reports
from users_service.reports.views import ops_page
from users_service.resources.apis import UserResourcesApi

urlpatterns = [
    *service_urlpatterns(health=health, metrics=metrics_view),
    path("api/users/", directory.UserListApi.as_view(), name="user-list"),
    path("api/users/<uuid:user_id>/", directory.UserDetailApi.as_view(), name="user-detail"),
    path("api/reports/", reports.ReportRunListApi.as_view(), name="report-run-list"),
    path("api/reports/<int:run_id>/", reports.ReportRunDetailApi.as_view(), name="report-run-detail"),
    path("ops/", staff_member_required(ops_page), name="ops"),
    path("ops/trace/", staff_member_required(trace_page), name="ops-trace-search"),
    path("ops/trace/<uuid:event_id>/", staff_member_required(trace_page), name="ops-trace"),
    path("api/users/<uuid:user_id>/resources/", UserResourcesApi.as_view(), name="user-resources"),
    path("api/catalogue/<str:kind>/", CatalogueApi.as_view(), name="catalogue"),
]
