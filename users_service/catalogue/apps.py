from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "users_service.catalogue"
    label = "users_catalogue"
