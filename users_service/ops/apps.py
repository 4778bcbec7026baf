from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "users_service.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        # Before any request or task: Django's instrumentation must wrap the middleware it loads.
        from shared_settings.tracing import configure_tracing

        configure_tracing()
        # Connects the Celery signal handlers that feed the task metrics.
        from users_service.ops import signals  # noqa: F401
