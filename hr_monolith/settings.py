"""Settings of the HR monolith. Every knob comes from the environment: README's settings
table lists each variable with its default; the shared part is in shared_settings/base.py."""

from __future__ import annotations

from shared_settings.base import *  # noqa: F403 - the base both services share
from shared_settings.base import (
    DJANGO_APPS,
    VAR_DIR,
    api_schema,
    axes_cooloff_message,
    database,
    metrics_dir,
    rest_framework,
)
from shared_settings.env import env
from shared_settings.sqlite import HR_SQLITE

SECRET_KEY = env.str("HR_SECRET_KEY")
ALLOWED_HOSTS = env.list("HR_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "hr-web"])
# Browsers keep cookies per host, not per port: the two services must not share cookie names.
SESSION_COOKIE_NAME = "hr_sessionid"
CSRF_COOKIE_NAME = "hr_csrftoken"
AXES_COOLOFF_MESSAGE = axes_cooloff_message("hr")

INSTALLED_APPS = [
    *DJANGO_APPS,
    "hr_monolith.catalogue",
    "hr_monolith.people",
    "hr_monolith.outbox",
    "hr_monolith.resources",
]
ROOT_URLCONF = "hr_monolith.urls"
WSGI_APPLICATION = "hr_monolith.wsgi.application"
DATABASES = {"default": database("DATABASE_URL", HR_SQLITE)}
STATIC_ROOT = VAR_DIR / "static" / "hr"
PROMETHEUS_MULTIPROC_DIR = metrics_dir("hr")

REST_FRAMEWORK = rest_framework(
    authentication="rest_framework.authentication.TokenAuthentication",
    # Reads for any login; writes for staff or the model permission (hr_monolith/permissions.py).
    permission="hr_monolith.permissions.StaffOrModelPermissions",
    pagination="hr_monolith.pagination.ApiPagination",
    # DRF's own throttles, counted in the default cache: per process (LocMemCache), a guard
    # against a runaway client rather than a quota. A throttled request gets 429 + Retry-After.
    throttles=("rest_framework.throttling.AnonRateThrottle", "rest_framework.throttling.UserRateThrottle"),
    anon_rate=env.str("HR_API_THROTTLE_ANON", default="60/min"),
    user_rate=env.str("HR_API_THROTTLE_USER", default="6000/min"),
    exception_handler="hr_monolith.api_errors.api_exception_handler",
)
# Largest page a list answers; a bigger `?limit=` is clamped to it (the `next` link goes on).
HR_API_MAX_LIMIT = env.int("HR_API_MAX_LIMIT", default=500)
SPECTACULAR_SETTINGS = api_schema(
    title="HR monolith API", description="Employees, catalogue and the outbox that publishes user events."
)

# --- events (SNS) ------------------------------------------------------------
EVENTS_PRODUCER = "hr_monolith"
# The `service.name` of this service's spans (OTEL_ENABLED).
OTEL_SERVICE_NAME = "hr_monolith"
# Outbox relay: rows per claim, idle poll interval (seconds).
RELAY_BATCH_SIZE = env.int("RELAY_BATCH_SIZE", default=100)
RELAY_POLL_INTERVAL = env.float("RELAY_POLL_INTERVAL", default=0.2)
# Wake the relay when an outbox row commits (PostgreSQL: LISTEN/NOTIFY; otherwise a Redis nudge
# when RELAY_WAKE_REDIS_URL is set); the poll interval stays the fallback. Off: poll only.
RELAY_WAKE = env.bool("RELAY_WAKE", default=True)
RELAY_WAKE_REDIS_URL = env.redis_url("RELAY_WAKE_REDIS_URL", default="", also=("",))
# The idle poll while the relay is woken on commit (LISTEN or a Redis subscription in place): only
# a lost wake-up waits for it. Without a live wake-up the relay polls every RELAY_POLL_INTERVAL.
RELAY_WAKE_POLL_INTERVAL = env.float("RELAY_WAKE_POLL_INTERVAL", default=5.0)
# publish_batch calls in flight at once, and the cap of the backoff while SNS refuses (seconds).
RELAY_MAX_IN_FLIGHT = env.int("RELAY_MAX_IN_FLIGHT", default=4)
RELAY_MAX_BACKOFF = env.float("RELAY_MAX_BACKOFF", default=30.0)
# Times SNS may refuse one entry before the relay parks its row as failed (admin re-sends it).
RELAY_MAX_ATTEMPTS = env.int("RELAY_MAX_ATTEMPTS", default=10)
# Sent outbox rows older than this are deleted by the relay (every OUTBOX_PURGE_INTERVAL seconds,
# 0 = never) and by `purge_outbox`.
OUTBOX_RETENTION_DAYS = env.float("OUTBOX_RETENTION_DAYS", default=7.0)
OUTBOX_PURGE_INTERVAL = env.float("OUTBOX_PURGE_INTERVAL", default=3600.0)
# Users per transaction in `backfill_users`.
BACKFILL_BATCH_SIZE = env.int("BACKFILL_BATCH_SIZE", default=500)

# --- /health/ (hr_monolith/health.py): the outbox figures past which the monolith is unhealthy ---
HEALTH_MAX_OUTBOX_BACKLOG = env.int("HEALTH_MAX_OUTBOX_BACKLOG", default=1000)
# Rows wait this long at most while the relay runs and SNS answers (measured: milliseconds).
HEALTH_MAX_OUTBOX_AGE_SECONDS = env.float("HEALTH_MAX_OUTBOX_AGE_SECONDS", default=60.0)
# Parked rows wait for a human to re-send them from admin.
HEALTH_MAX_PARKED_ROWS = env.int("HEALTH_MAX_PARKED_ROWS", default=0)

# --- resources (the deliberately slow endpoint the users service caches) ------
RESOURCES_LATENCY_MS = env.int("RESOURCES_LATENCY_MS", default=300)
