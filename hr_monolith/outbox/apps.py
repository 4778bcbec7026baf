from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "hr_monolith.outbox"
    label = "outbox"

    def ready(self) -> None:
        # Before any request or task: Django's instrumentation must wrap the middleware it loads.
        from shared_settings.tracing import configure_tracing

        configure_tracing()
