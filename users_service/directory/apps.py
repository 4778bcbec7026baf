from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "users_service.directory"
    label = "directory"
    verbose_name = "Directory (read model)"
