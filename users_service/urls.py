from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from users_service.catalogue.apis import CatalogueApi
from users_service.directory import apis as directory
from users_service.health import health
from users_service.ops.views import metrics_view
from users_service.reports import apis as reports
from users_service.reports.views import ops_page
from users_service.resources.apis import UserResourcesApi

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/users/", directory.UserListApi.as_view(), name="user-list"),
    path("api/users/<uuid:user_id>/", directory.UserDetailApi.as_view(), name="user-detail"),
    path("api/reports/", reports.ReportRunListApi.as_view(), name="report-run-list"),
    path("api/reports/<int:run_id>/", reports.ReportRunDetailApi.as_view(), name="report-run-detail"),
    path("ops/", ops_page, name="ops"),
    path("api/users/<uuid:user_id>/resources/", UserResourcesApi.as_view(), name="user-resources"),
    path("api/catalogue/<str:kind>/", CatalogueApi.as_view(), name="catalogue"),
]
