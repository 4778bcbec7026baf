from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "hr_monolith.outbox"
    label = "outbox"
