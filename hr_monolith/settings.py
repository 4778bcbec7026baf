"""Settings of the HR monolith. Every knob comes from the environment (see README)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in ("1", "true", "yes", "on")


DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = os.environ.get("HR_SECRET_KEY") or ("dev-only-hr-monolith-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("HR_SECRET_KEY must be set when DJANGO_DEBUG is off")
ALLOWED_HOSTS = os.environ.get("HR_ALLOWED_HOSTS", "127.0.0.1,localhost,hr-web").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "hr_monolith.catalogue",
    "hr_monolith.people",
    "hr_monolith.outbox",
    "hr_monolith.resources",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

# --- admin login lockout (django-axes) ----------------------------------------
# Failed logins are counted per (username, client address): an attacker elsewhere cannot lock
# an admin out, and a success clears the count. Only failures are stored (no access log of
# every login), and axes' log lines mask the username and address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("ADMIN_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = datetime.timedelta(minutes=float(os.environ.get("ADMIN_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
AXES_COOLOFF_MESSAGE = (
    f"Too many failed logins: this account is locked for {AXES_COOLOFF_TIME.total_seconds() / 60:g} minutes "
    "from this address. An administrator can lift the lock with `manage.py hr axes_reset_username <name>`."
)

ROOT_URLCONF = "hr_monolith.urls"
WSGI_APPLICATION = "hr_monolith.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def database_from_env(variable: str, sqlite_name: str) -> dict:
    """PostgreSQL (or any dj-database-url URL) from `variable`, else SQLite under var/."""
    url = os.environ.get(variable)
    if url:
        return dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / sqlite_name,
        # Writers queue for the lock instead of failing with "database is locked".
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


DATABASES = {"default": database_from_env("DATABASE_URL", "hr.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static" / "hr"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Reads for any login; writes for staff or the model permission (hr_monolith/permissions.py).
    "DEFAULT_PERMISSION_CLASSES": ["hr_monolith.permissions.StaffOrModelPermissions"],
    "DEFAULT_PAGINATION_CLASS": "hr_monolith.pagination.ApiPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "hr_monolith.api_errors.api_exception_handler",
    # DRF's own throttles, counted in the default cache: per process (LocMemCache), a guard
    # against a runaway client rather than a quota. A throttled request gets 429 + Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("HR_API_THROTTLE_ANON", "60/min"),
        "user": os.environ.get("HR_API_THROTTLE_USER", "6000/min"),
    },
}
# Largest page a list answers; a bigger `?limit=` is clamped to it (the `next` link goes on).
HR_API_MAX_LIMIT = int(os.environ.get("HR_API_MAX_LIMIT", "500"))
SPECTACULAR_SETTINGS = {
    "TITLE": "HR monolith API",
    "DESCRIPTION": "Employees, catalogue and the outbox that publishes user events.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its UI need a login like the API they describe.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# --- events (SNS) ------------------------------------------------------------
EVENTS_PRODUCER = "hr_monolith"
# Outbox relay: rows per claim, idle poll interval (seconds).
RELAY_BATCH_SIZE = int(os.environ.get("RELAY_BATCH_SIZE", "100"))
RELAY_POLL_INTERVAL = float(os.environ.get("RELAY_POLL_INTERVAL", "0.2"))
# publish_batch calls in flight at once, and the cap of the backoff while SNS refuses (seconds).
RELAY_MAX_IN_FLIGHT = int(os.environ.get("RELAY_MAX_IN_FLIGHT", "4"))
RELAY_MAX_BACKOFF = float(os.environ.get("RELAY_MAX_BACKOFF", "30"))
# Times SNS may refuse one entry before the relay parks its row as failed (admin re-sends it).
RELAY_MAX_ATTEMPTS = int(os.environ.get("RELAY_MAX_ATTEMPTS", "10"))
# Sent outbox rows older than this are deleted by the relay (every OUTBOX_PURGE_INTERVAL seconds,
# 0 = never) and by `purge_outbox`.
OUTBOX_RETENTION_DAYS = float(os.environ.get("OUTBOX_RETENTION_DAYS", "7"))
OUTBOX_PURGE_INTERVAL = float(os.environ.get("OUTBOX_PURGE_INTERVAL", "3600"))
# Users per transaction in `backfill_users`.
BACKFILL_BATCH_SIZE = int(os.environ.get("BACKFILL_BATCH_SIZE", "500"))

# --- resources (the deliberately slow endpoint the users service caches) ------
RESOURCES_LATENCY_MS = int(os.environ.get("RESOURCES_LATENCY_MS", "300"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}
