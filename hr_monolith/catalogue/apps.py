from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "hr_monolith.catalogue"
    label = "catalogue"
