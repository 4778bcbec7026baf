from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "hr_monolith.people"
    label = "people"
    verbose_name = "People"
