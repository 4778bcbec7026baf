"""WSGI entry point of the HR monolith."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hr_monolith.settings")
application = get_wsgi_application()
