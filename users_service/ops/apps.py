from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "users_service.ops"
    label = "ops"
    verbose_name = "Operations"
