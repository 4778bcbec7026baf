from django.urls import path

from hr_monolith.catalogue.apis import CatalogueDetailApi, CatalogueListApi
from hr_monolith.health import health
from hr_monolith.outbox.apis import OutboxEventApi
from hr_monolith.outbox.views import metrics_view
from hr_monolith.people import apis as people
from hr_monolith.resources import apis as resources
from shared_settings.urls import service_urlpatterns

urlpatterns = [
    *service_urlpatterns(health=health, metrics=metrics_view),
    path("api/users/", people.UserListApi.as_view(), name="user-list"),
    path("api/users/<uuid:user_id>/", people.UserDetailApi.as_view(), name="user-detail"),
    path("api/users/<uuid:user_id>/deactivate/", people.UserDeactivateApi.as_view(), name="user-deactivate"),
    path("api/users/<uuid:user_id>/reactivate/", people.UserReactivateApi.as_view(), name="user-reactivate"),
    path("api/users/<uuid:user_id>/resources/", resources.UserResourcesApi.as_view(), name="user-resources"),
    path(
        "api/users/<uuid:user_id>/resources/<str:resource>/",
        resources.UserResourceDetailApi.as_view(),
        name="user-resource-detail",
    ),
    path("api/outbox/<uuid:event_id>/", OutboxEventApi.as_view(), name="outbox-event"),
]
for kind in ("departments", "positions", "locations"):
    urlpatterns += [
        path(f"api/{kind}/", CatalogueListApi.as_view(kind=kind), name=f"{kind}-list"),
        path(f"api/{kind}/<str:code>/", CatalogueDetailApi.as_view(kind=kind), name=f"{kind}-detail"),
    ]
