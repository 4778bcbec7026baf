"""Settings of the users service. Every knob comes from the environment: README's settings
table lists each variable with its default; the shared part is in shared_settings/base.py."""

from __future__ import annotations

from kombu import Queue

from shared_settings.base import *  # noqa: F403 - the base both services share
from shared_settings.base import (
    DJANGO_APPS,
    MIDDLEWARE,
    TIME_ZONE,
    VAR_DIR,
    api_schema,
    axes_cooloff_message,
    database,
    metrics_dir,
    rest_framework,
)
from shared_settings.env import env
from shared_settings.sqlite import USERS_SQLITE
from users_service import queues

SECRET_KEY = env.str("USERS_SECRET_KEY")
# Cache hits of the catalogue and resources endpoints are answered in front of Django (the WSGI
# application, users_service/wsgi.py) or, with tracing on, right after the security middleware
# (users_service/cache_hits.py); off: every request goes through DRF.
CACHE_FAST_HITS = env.bool("CACHE_FAST_HITS", default=True)
_after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
MIDDLEWARE = [
    *MIDDLEWARE[:_after_security],
    "users_service.cache_hits.CacheHitMiddleware",
    *MIDDLEWARE[_after_security:],
]
ALLOWED_HOSTS = env.list("USERS_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "users-web"])
# Browsers keep cookies per host, not per port: the two services must not share cookie names.
SESSION_COOKIE_NAME = "users_sessionid"
CSRF_COOKIE_NAME = "users_csrftoken"
AXES_COOLOFF_MESSAGE = axes_cooloff_message("users")

INSTALLED_APPS = [
    *DJANGO_APPS,
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
ROOT_URLCONF = "users_service.urls"
WSGI_APPLICATION = "users_service.wsgi.application"
DATABASES = {"default": database("USERS_DATABASE_URL", USERS_SQLITE)}
STATIC_ROOT = VAR_DIR / "static" / "users"
PROMETHEUS_MULTIPROC_DIR = metrics_dir("users")

REST_FRAMEWORK = rest_framework(
    # TokenAuthentication that remembers a valid token for TOKEN_AUTH_CACHE_SECONDS.
    authentication="users_service.authentication.CachedTokenAuthentication",
    permission="rest_framework.permissions.IsAuthenticated",
    pagination="users_service.pagination.StrictLimitOffsetPagination",
    # Fail open when the cache (which holds the counters) is down: see users_service/throttling.py.
    throttles=("users_service.throttling.AnonThrottle", "users_service.throttling.UserThrottle"),
    anon_rate=env.str("USERS_API_THROTTLE_ANON", default="60/min"),
    user_rate=env.str("USERS_API_THROTTLE_USER", default="1200/min"),
)
# Largest page a list answers; a bigger `?limit=` is clamped to it (the `next` link goes on).
USERS_API_MAX_LIMIT = env.int("USERS_API_MAX_LIMIT", default=500)
# A revoked token or deactivated user keeps working this long in a process that saw it (0 = never
# remembered: one database query per request). See users_service/authentication.py.
TOKEN_AUTH_CACHE_SECONDS = env.float("TOKEN_AUTH_CACHE_SECONDS", default=5.0)
SPECTACULAR_SETTINGS = api_schema(
    title="Users service API", description="Read model of users fed by the monolith's events."
)

# --- Redis: the broker and the cache are separate roles ----------------------
# Each URL may carry a password (redis://:password@host:6379/0) and use TLS (rediss://, which
# verifies the server's certificate: add ?ssl_ca_certs=/path/ca.pem for a private CA).
CELERY_BROKER_URL = env.redis_url("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CACHE_REDIS_URL = env.redis_url("CACHE_REDIS_URL", default="redis://127.0.0.1:6379/1")
# Short, so that a dead or slow cache costs a request little before it falls through to the upstream.
CACHE_SOCKET_TIMEOUT = env.float("CACHE_SOCKET_TIMEOUT", default=0.25)
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "KEY_PREFIX": "users",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            # Never pickle: whoever can write to the cache Redis could run code here. The cached
            # values are JSON bodies (bytes), which msgpack stores as they are.
            "SERIALIZER": "django_redis.serializers.msgpack.MSGPackSerializer",
            "SOCKET_CONNECT_TIMEOUT": CACHE_SOCKET_TIMEOUT,
            "SOCKET_TIMEOUT": CACHE_SOCKET_TIMEOUT,
            # No IGNORE_EXCEPTIONS: read_through counts each failure.
        },
    }
}
# --- caches of catalogue and per-user resources (users_service/read_through.py) ---
CATALOGUE_CACHE_TTL = env.int("CATALOGUE_CACHE_TTL", default=300)
RESOURCES_CACHE_TTL = env.int("RESOURCES_CACHE_TTL", default=120)
# Each entry lives TTL * (1 + uniform(0, jitter)).
CACHE_TTL_JITTER = env.float("CACHE_TTL_JITTER", default=0.1)
# Single-flight fills: one request holds the lock and calls the upstream, the others poll
# for the value for up to CACHE_FILL_WAIT_SECONDS, then call the upstream themselves.
CACHE_STAMPEDE_CONTROL = env.bool("CACHE_STAMPEDE_CONTROL", default=True)
CACHE_FILL_WAIT_SECONDS = env.float("CACHE_FILL_WAIT_SECONDS", default=2.0)
CACHE_FILL_POLL_SECONDS = 0.02
# After a cache error, this process answers from the upstream without trying the cache for
# this long (a cache that times out would otherwise slow every request). Invalidations still try.
CACHE_BYPASS_SECONDS = env.float("CACHE_BYPASS_SECONDS", default=2.0)
# Longer than the slowest upstream call, so a live filler never loses its lock.
CACHE_FILL_LOCK_SECONDS = 15
# How long an invalidation's generation marker lives: longer than any fill in flight.
CACHE_GENERATION_SECONDS = 120

# --- Celery ------------------------------------------------------------------
# Why each knob: README "Celery settings". Tasks get `users_service.task_policy.ServiceTask`.
# Queues, routes, and each worker role's pool, concurrency, time limits and visibility timeout
# are declared once in users_service/queues.py; `manage.py users run_worker <role>` starts a role.
CELERY_TASK_DEFAULT_QUEUE = queues.DEFAULT.queue
CELERY_TASK_QUEUES = tuple(Queue(name) for name in queues.celery_queue_names())
# The bridge names the queue of each task it publishes (users_service/routing.py); these routes
# cover tasks sent from code, retries from admin, and beat.
CELERY_TASK_ROUTES = queues.celery_routes()
# A role's worker sets its own transport options; these serve a worker started without a role on
# several queues: long enough for every role's tasks (celery#7651: broker *and* result transport).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": queues.longest_visibility_timeout()}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": queues.longest_visibility_timeout()}
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
# Celery's consumer, fixed so that a lost broker connection with a task in hand restarts the
# consumer instead of ending the worker (users_service/worker_consumer.py).
CELERY_WORKER_CONSUMER = "users_service.worker_consumer:Consumer"
# Each worker slot reserves one task, so none waits behind a slow one (roles declare their own).
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Each task family's transient errors retry with events.backoff.Backoff from this base, capped per
# queue role, at most this many times; then the task is recorded as a FailedTask.
CELERY_TASK_MAX_RETRIES = env.int("CELERY_TASK_MAX_RETRIES", default=8)
CELERY_RETRY_BACKOFF_BASE = env.float("CELERY_RETRY_BACKOFF_BASE", default=1.0)
# Re-enqueued failed tasks are deleted this many days after their re-enqueue (daily prune).
FAILED_TASKS_RETENTION_DAYS = env.int("FAILED_TASKS_RETENTION_DAYS", default=30)
# The users database (django-celery-results) or a Redis URL. Not "django-cache": it pickles results.
CELERY_RESULT_BACKEND = env.redis_url("CELERY_RESULT_BACKEND", default="django-db", also=("django-db",))
CELERY_RESULT_EXTENDED = True
# Cleaned up by the periodic task `celery.backend_cleanup` (users_service/reports/schedules.py).
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=7 * 24 * 3600)
CELERY_TASK_TRACK_STARTED = True
# Celery closes every database connection around every task unless this is set; connections are
# recycled by CONN_MAX_AGE instead (users_service/celery.py). Measured: bench/worker_apply.
CELERY_DB_REUSE_MAX = 10**9
# DatabaseScheduler behind a Redis lock: a second beat process stands by (users_service/reports/scheduler.py).
CELERY_BEAT_SCHEDULER = "users_service.reports.scheduler:GuardedDatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# The `service.name` of this service's spans (OTEL_ENABLED).
OTEL_SERVICE_NAME = "users_service"

# --- the bridge (SQS -> Celery) ----------------------------------------------
BRIDGE_THREADS = env.int("BRIDGE_THREADS", default=2)
BRIDGE_WAIT_SECONDS = env.int("BRIDGE_WAIT_SECONDS", default=5)
# TopicArns accepted in SNS-wrapped messages; empty = the configured topic only.
BRIDGE_ALLOWED_TOPIC_ARNS = env.list("BRIDGE_ALLOWED_TOPIC_ARNS", default=[])
# Extend a slow batch's visibility after this many seconds (and again each interval); 0 = never.
BRIDGE_HEARTBEAT_SECONDS = env.float("BRIDGE_HEARTBEAT_SECONDS", default=10.0)
BRIDGE_MAX_BACKOFF_SECONDS = env.float("BRIDGE_MAX_BACKOFF_SECONDS", default=30.0)
# The bridge's own broker connection fails fast instead of retrying (SQS keeps the messages).
BRIDGE_BROKER_CONNECT_TIMEOUT = env.float("BRIDGE_BROKER_CONNECT_TIMEOUT", default=0.5)
BRIDGE_BROKER_SOCKET_TIMEOUT = env.float("BRIDGE_BROKER_SOCKET_TIMEOUT", default=5.0)
# How often run_bridge publishes its counters to /metrics.
BRIDGE_METRICS_INTERVAL = env.float("BRIDGE_METRICS_INTERVAL", default=5.0)
# Stop (exit 1, batch left in SQS) when more than this share of the last BRIDGE_POISON_WINDOW
# messages was poison, once at least BRIDGE_POISON_MIN_MESSAGES were seen; 1 = never stop.
BRIDGE_POISON_WINDOW = env.int("BRIDGE_POISON_WINDOW", default=100)
BRIDGE_POISON_MIN_MESSAGES = env.int("BRIDGE_POISON_MIN_MESSAGES", default=20)
BRIDGE_POISON_MAX_RATIO = env.float("BRIDGE_POISON_MAX_RATIO", default=0.5)
# On SIGTERM, wait at most this long for the batches in hand (never for a long poll).
BRIDGE_STOP_GRACE_SECONDS = env.float("BRIDGE_STOP_GRACE_SECONDS", default=2.0)

# --- the hand-off record (docs/delivery.md) ----------------------------------
# An event whose tasks are not all in the inbox this long after the hand-off is published again.
HANDOFF_GRACE_SECONDS = env.float("HANDOFF_GRACE_SECONDS", default=60.0)
# The longest wait between two re-publishes of one event (the backoff grows from the grace).
HANDOFF_BACKOFF_CAP_SECONDS = env.float("HANDOFF_BACKOFF_CAP_SECONDS", default=900.0)
# After this many re-publishes without reaching the inbox an event is parked: published no more,
# counted, shown in the admin (re-send action) and in /health/.
HANDOFF_MAX_ATTEMPTS = env.int("HANDOFF_MAX_ATTEMPTS", default=10)
# How often the bridge's sweeper looks for due records, and how many it takes a round.
HANDOFF_SWEEP_SECONDS = env.float("HANDOFF_SWEEP_SECONDS", default=5.0)
HANDOFF_SWEEP_BATCH = env.int("HANDOFF_SWEEP_BATCH", default=500)
# Applied records are deleted this long after they were applied.
HANDOFF_RETENTION_HOURS = env.float("HANDOFF_RETENTION_HOURS", default=24.0)
# --- /health/ (users_service/health.py): the thresholds past which the pipeline is unhealthy ---
HEALTH_MAX_QUEUE_DEPTH = env.int("HEALTH_MAX_QUEUE_DEPTH", default=1000)
HEALTH_MAX_DLQ_DEPTH = env.int("HEALTH_MAX_DLQ_DEPTH", default=0)
# Parked hand-offs (events the sweeper gave up publishing again) are, like dead letters, for an operator.
HEALTH_MAX_PARKED_HANDOFFS = env.int("HEALTH_MAX_PARKED_HANDOFFS", default=0)
HEALTH_MAX_BRIDGE_LAG_SECONDS = env.float("HEALTH_MAX_BRIDGE_LAG_SECONDS", default=300.0)
# 0 = beat is not checked (a stack that runs no beat).
HEALTH_BEAT_MAX_AGE_SECONDS = env.float("HEALTH_BEAT_MAX_AGE_SECONDS", default=120.0)
HEALTH_CHECK_WORKERS = env.bool("HEALTH_CHECK_WORKERS", default=True)
# A ping waits its whole timeout for replies; its answer is reused this long.
HEALTH_PING_TIMEOUT = env.float("HEALTH_PING_TIMEOUT", default=1.0)
HEALTH_PING_CACHE_SECONDS = env.float("HEALTH_PING_CACHE_SECONDS", default=10.0)

# --- the monolith, for resources and reconciliation --------------------------
MONOLITH_URL = env.str("MONOLITH_URL", default="http://127.0.0.1:8000")
MONOLITH_API_TOKEN = env.str("MONOLITH_API_TOKEN", default="")
MONOLITH_CONNECT_TIMEOUT = env.float("MONOLITH_CONNECT_TIMEOUT", default=1.0)
MONOLITH_READ_TIMEOUT = env.float("MONOLITH_READ_TIMEOUT", default=5.0)

# --- reports ------------------------------------------------------------------
# Report runs older than this are deleted by the scheduled cleanup.
REPORTS_RETENTION_DAYS = env.int("REPORTS_RETENTION_DAYS", default=90)
# The beat lock: in the broker's Redis (beat needs it anyway); it expires this long after its holder dies.
REPORTS_BEAT_LOCK_URL = env.redis_url("REPORTS_BEAT_LOCK_URL", default=CELERY_BROKER_URL)
REPORTS_BEAT_LOCK_TTL = env.float("REPORTS_BEAT_LOCK_TTL", default=30.0)
RECONCILIATION_PAGE_SIZE = env.int("RECONCILIATION_PAGE_SIZE", default=200)

# --- the /ops/ page -----------------------------------------------------------
# The page reloads itself this often (seconds; 0: never).
OPS_REFRESH_SECONDS = env.int("OPS_REFRESH_SECONDS", default=30)
# Flower's address, linked from the page when set (`make run` starts Flower on 127.0.0.1:5555).
FLOWER_URL = env.str("FLOWER_URL", default="")
