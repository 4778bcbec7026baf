from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "users_service.reports"
    label = "reports"
    verbose_name = "Reports"
