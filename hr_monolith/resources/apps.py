from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    name = "hr_monolith.resources"
    label = "resources"
