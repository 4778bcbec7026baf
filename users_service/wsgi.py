"""WSGI entry point of the users service: Django, with cache hits answered in front of it
(users_service/cache_hits.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "users_service.settings")
django_application = get_wsgi_application()

from users_service.cache_hits import CacheHitApplication  # noqa: E402 (needs the settings and apps)

application = CacheHitApplication(django_application)
