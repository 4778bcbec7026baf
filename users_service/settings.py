"""Settings of the users service. Every knob comes from the environment (see README)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import dj_database_url
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = os.environ.get("USERS_SECRET_KEY") or ("dev-only-users-service-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("USERS_SECRET_KEY must be set when DJANGO_DEBUG is off")
ALLOWED_HOSTS = env_list("USERS_ALLOWED_HOSTS", "127.0.0.1,localhost,users-web")

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
    "django_celery_results",
    "django_celery_beat",
    "django_filters",
    "users_service.directory",
    "users_service.bridge",
    "users_service.ops",
    "users_service.reports",
    "users_service.catalogue",
    "users_service.resources",
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
    "from this address. An administrator can lift the lock with `manage.py users axes_reset_username <name>`."
)

ROOT_URLCONF = "users_service.urls"
WSGI_APPLICATION = "users_service.wsgi.application"
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


DATABASES = {"default": database_from_env("USERS_DATABASE_URL", "users.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static" / "users"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # TokenAuthentication that remembers a valid token for TOKEN_AUTH_CACHE_SECONDS.
        "users_service.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "users_service.pagination.StrictLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Fail open when the cache (which holds the counters) is down: see users_service/throttling.py.
    "DEFAULT_THROTTLE_CLASSES": [
        "users_service.throttling.AnonThrottle",
        "users_service.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("USERS_API_THROTTLE_ANON", "60/min"),
        "user": os.environ.get("USERS_API_THROTTLE_USER", "1200/min"),
    },
}
# Largest page a list answers; a bigger `?limit=` is clamped to it (the `next` link goes on).
USERS_API_MAX_LIMIT = int(os.environ.get("USERS_API_MAX_LIMIT", "500"))
# A revoked token or deactivated user keeps working this long in a process that saw it (0 = never
# remembered: one database query per request). See users_service/authentication.py.
TOKEN_AUTH_CACHE_SECONDS = float(os.environ.get("TOKEN_AUTH_CACHE_SECONDS", "5"))
SPECTACULAR_SETTINGS = {
    "TITLE": "Users service API",
    "DESCRIPTION": "Read model of users fed by the monolith's events.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its UI need a login like the API they describe.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# --- Redis: the broker and the cache are separate roles ----------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CACHE_REDIS_URL = os.environ.get("CACHE_REDIS_URL", "redis://127.0.0.1:6379/1")
# Counters shared by the bridge, workers and web processes (see users_service/ops/metrics.py).
METRICS_REDIS_URL = os.environ.get("METRICS_REDIS_URL", CELERY_BROKER_URL)
# Cache hits are counted in each process and sent to the metrics store this often (0 = at once,
# one more Redis round trip per hit). See users_service/ops/metrics.py.
METRICS_FLUSH_SECONDS = float(os.environ.get("METRICS_FLUSH_SECONDS", "1.0"))
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "KEY_PREFIX": "users",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            # Short, so that a dead or slow cache costs a request little before it falls
            # through to the upstream. No IGNORE_EXCEPTIONS: read_through counts each failure.
            "SOCKET_CONNECT_TIMEOUT": float(os.environ.get("CACHE_SOCKET_TIMEOUT", "0.25")),
            "SOCKET_TIMEOUT": float(os.environ.get("CACHE_SOCKET_TIMEOUT", "0.25")),
        },
    }
}
# --- caches of catalogue and per-user resources (users_service/read_through.py) ---
CATALOGUE_CACHE_TTL = int(os.environ.get("CATALOGUE_CACHE_TTL", "300"))
RESOURCES_CACHE_TTL = int(os.environ.get("RESOURCES_CACHE_TTL", "120"))
# Each entry lives TTL * (1 + uniform(0, jitter)).
CACHE_TTL_JITTER = float(os.environ.get("CACHE_TTL_JITTER", "0.1"))
# Single-flight fills: one request holds the lock and calls the upstream, the others poll
# for the value for up to CACHE_FILL_WAIT_SECONDS, then call the upstream themselves.
CACHE_STAMPEDE_CONTROL = env_bool("CACHE_STAMPEDE_CONTROL", True)
CACHE_FILL_WAIT_SECONDS = float(os.environ.get("CACHE_FILL_WAIT_SECONDS", "2.0"))
CACHE_FILL_POLL_SECONDS = 0.02
# After a cache error, this process answers from the upstream without trying the cache for
# this long (a cache that times out would otherwise slow every request). Invalidations still try.
CACHE_BYPASS_SECONDS = float(os.environ.get("CACHE_BYPASS_SECONDS", "2.0"))
# Longer than the slowest upstream call, so a live filler never loses its lock.
CACHE_FILL_LOCK_SECONDS = 15
# How long an invalidation's generation marker lives: longer than any fill in flight.
CACHE_GENERATION_SECONDS = 120

# --- Celery ------------------------------------------------------------------
# Why each knob: README "Celery settings". Tasks get `users_service.task_policy.ServiceTask`.
# A task waiting longer than this (countdown/ETA, retry backoff) would be redelivered while it
# waits, so ServiceTask refuses such delays. Set in broker *and* result transport (celery#7651).
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
# Ack after the task ran, and give a task back to the queue if its worker dies mid-task:
# handlers are idempotent (inbox), so a redelivery is harmless and a loss is not.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A failed task is acked: it is recorded in FailedTask (admin can re-enqueue), not redelivered forever.
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True
# A lost broker connection re-delivers unacked tasks elsewhere; stop running them here too.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Long I/O-bound tasks: each worker thread reserves one task, so none waits behind a slow one.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "events"
CELERY_TASK_QUEUES = (Queue("events"), Queue("cache"), Queue("reports"))
# The bridge names the queue of each task it publishes (users_service/routing.py); these routes
# cover tasks sent from code, retries from admin, and beat.
CELERY_TASK_ROUTES = {
    "directory.*": {"queue": "events"},
    "catalogue.*": {"queue": "cache"},
    "resources.*": {"queue": "cache"},
    "reports.*": {"queue": "reports"},
    "celery.backend_cleanup": {"queue": "reports"},
}
# Enforced by the prefork pool only; on the threads pool the bound is each handler's own
# socket timeout (see README "Worker pool").
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "300"))
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "240"))
# Transient errors (task_policy.TRANSIENT_ERRORS) retry with exponential backoff and jitter.
CELERY_TASK_MAX_RETRIES = int(os.environ.get("CELERY_TASK_MAX_RETRIES", "8"))
CELERY_RETRY_BACKOFF_BASE = float(os.environ.get("CELERY_RETRY_BACKOFF_BASE", "1"))
CELERY_RETRY_BACKOFF_MAX = float(os.environ.get("CELERY_RETRY_BACKOFF_MAX", "300"))
if CELERY_RETRY_BACKOFF_MAX >= CELERY_VISIBILITY_TIMEOUT:
    raise RuntimeError("CELERY_RETRY_BACKOFF_MAX must be shorter than CELERY_VISIBILITY_TIMEOUT")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "django-db")
CELERY_RESULT_EXTENDED = True
# Cleaned up by the periodic task `celery.backend_cleanup` (directory migration 0003).
CELERY_RESULT_EXPIRES = int(os.environ.get("CELERY_RESULT_EXPIRES", str(7 * 24 * 3600)))
CELERY_TASK_TRACK_STARTED = True
# Celery closes every database connection around every task unless this is set; connections are
# recycled by CONN_MAX_AGE instead (users_service/celery.py). Measured: bench/worker_apply.
CELERY_DB_REUSE_MAX = 10**9
# DatabaseScheduler behind a Redis lock: a second beat process stands by (users_service/reports/scheduler.py).
CELERY_BEAT_SCHEDULER = "users_service.reports.scheduler:GuardedDatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- the bridge (SQS -> Celery) ----------------------------------------------
BRIDGE_THREADS = int(os.environ.get("BRIDGE_THREADS", "2"))
BRIDGE_WAIT_SECONDS = int(os.environ.get("BRIDGE_WAIT_SECONDS", "5"))
# TopicArns accepted in SNS-wrapped messages; empty = the configured topic only.
BRIDGE_ALLOWED_TOPIC_ARNS = env_list("BRIDGE_ALLOWED_TOPIC_ARNS")
# Extend a slow batch's visibility after this many seconds (and again each interval); 0 = never.
BRIDGE_HEARTBEAT_SECONDS = float(os.environ.get("BRIDGE_HEARTBEAT_SECONDS", "10"))
BRIDGE_MAX_BACKOFF_SECONDS = float(os.environ.get("BRIDGE_MAX_BACKOFF_SECONDS", "30"))
# The bridge's own broker connection fails fast instead of retrying (SQS keeps the messages).
BRIDGE_BROKER_CONNECT_TIMEOUT = float(os.environ.get("BRIDGE_BROKER_CONNECT_TIMEOUT", "0.5"))
BRIDGE_BROKER_SOCKET_TIMEOUT = float(os.environ.get("BRIDGE_BROKER_SOCKET_TIMEOUT", "5"))
# How often run_bridge publishes its counters to /metrics.
BRIDGE_METRICS_INTERVAL = float(os.environ.get("BRIDGE_METRICS_INTERVAL", "5"))

# --- the monolith, for resources and reconciliation --------------------------
MONOLITH_URL = os.environ.get("MONOLITH_URL", "http://127.0.0.1:8000")
MONOLITH_API_TOKEN = os.environ.get("MONOLITH_API_TOKEN", "")
MONOLITH_CONNECT_TIMEOUT = float(os.environ.get("MONOLITH_CONNECT_TIMEOUT", "1.0"))
MONOLITH_READ_TIMEOUT = float(os.environ.get("MONOLITH_READ_TIMEOUT", "5.0"))

# --- reports ------------------------------------------------------------------
# Report runs older than this are deleted by the scheduled cleanup.
REPORTS_RETENTION_DAYS = int(os.environ.get("REPORTS_RETENTION_DAYS", "90"))
# The beat lock: in the broker's Redis (beat needs it anyway); it expires this long after its holder dies.
REPORTS_BEAT_LOCK_URL = os.environ.get("REPORTS_BEAT_LOCK_URL", CELERY_BROKER_URL)
REPORTS_BEAT_LOCK_TTL = float(os.environ.get("REPORTS_BEAT_LOCK_TTL", "30"))
RECONCILIATION_PAGE_SIZE = int(os.environ.get("RECONCILIATION_PAGE_SIZE", "200"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}
