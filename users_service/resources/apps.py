from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    name = "users_service.resources"
    label = "users_resources"
