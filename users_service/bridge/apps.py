from django.apps import AppConfig


class BridgeConfig(AppConfig):
    name = "users_service.bridge"
    label = "bridge"
