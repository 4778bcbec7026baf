"""Settings both services share: development mode, security, databases, templates, logging.

Each service's `settings.py` starts with `from shared_settings.base import *` and adds its own
apps, secret key, hosts, cookie names and knobs. Every variable read here is listed in
README's settings table (a test keeps it complete); the decisions are in docs/settings.md.
"""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from shared_settings.env import env
from shared_settings.logs import LOG_FORMATS, configure_structlog, logging_config
from shared_settings.prometheus import use_multiprocess_dir

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

# Development mode: debug pages, and the HTTPS settings below default to plain HTTP.
# Off unless asked for: a deployment that forgets a variable must not run in debug.
DEBUG = env.bool("DJANGO_DEBUG", default=False)

# --- HTTPS -----------------------------------------------------------------------------------
# Secure unless development mode or the environment says otherwise (`check --deploy` passes with
# the defaults). Behind a proxy that terminates TLS, set DJANGO_SECURE_PROXY_SSL_HEADER so that
# Django sees the request as secure; without one, a client could claim HTTPS by itself.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes and scrapers often speak plain HTTP to the process itself; neither page holds personal data.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^health/live/$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
_proxy_ssl_header = env.list("DJANGO_SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "DJANGO_SECURE_PROXY_SSL_HEADER must be a header and its value, e.g. HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) or None
# Flash messages in the session, not in a cookie named "messages" that both services would share.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

#: Django's own apps and the API stack, first in each service's INSTALLED_APPS.
DJANGO_APPS = [
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
    # Swagger UI's files as static files of our own: the docs pages load from no other host.
    "drf_spectacular_sidecar",
]
MIDDLEWARE = [
    # First: the latency it measures includes every middleware below (shared_settings/http_metrics.py).
    "shared_settings.http_metrics.RequestLatencyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Right after SecurityMiddleware, as whitenoise asks: the collected static files (admin, browsable
    # API) are served by the web process itself with DJANGO_DEBUG off, with far-future caching.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Early, so that every later record of the request carries its trace id.
    "shared_settings.middleware.TraceContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

# --- admin login lockout (django-axes) ----------------------------------------------------------
# Failed logins are counted per (username, client address): an attacker elsewhere cannot lock
# an admin out, and a success clears the count. Only failures are stored (no access log of
# every login), and axes' log lines mask the username and address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.float("ADMIN_LOGIN_LOCKOUT_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False


def axes_cooloff_message(service: str) -> str:
    """The lockout page's text, naming the command that lifts the lock for `service` (hr or users)."""
    return (
        f"Too many failed logins: this account is locked for {AXES_COOLOFF_TIME.total_seconds() / 60:g} "
        f"minutes from this address. An administrator can lift the lock with "
        f"`manage.py {service} axes_reset_username <name>`."
    )


def rest_framework(
    *,
    authentication: str,
    permission: str,
    pagination: str,
    throttles: tuple[str, str],
    anon_rate: str,
    user_rate: str,
    exception_handler: str | None = None,
) -> dict[str, Any]:
    """A service's REST_FRAMEWORK: its token `authentication` (for services and scripts) or the
    admin's session, 50 rows a page, drf-spectacular's schema, an anonymous and a per-user throttle."""
    config: dict[str, Any] = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            authentication,
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_PERMISSION_CLASSES": [permission],
        "DEFAULT_PAGINATION_CLASS": pagination,
        "PAGE_SIZE": 50,
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "DEFAULT_THROTTLE_CLASSES": list(throttles),
        "DEFAULT_THROTTLE_RATES": {"anon": anon_rate, "user": user_rate},
    }
    if exception_handler is not None:
        config["EXCEPTION_HANDLER"] = exception_handler
    return config


def api_schema(*, title: str, description: str) -> dict[str, Any]:
    """A service's SPECTACULAR_SETTINGS: its API's title and description; the schema and its UI need
    a login like the API they describe, and the docs pages load nothing from another host."""
    return {
        "TITLE": title,
        "DESCRIPTION": description,
        "VERSION": "1.0.0",
        "SERVE_INCLUDE_SCHEMA": False,
        "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
        # drf-spectacular's defaults load Swagger UI from a CDN (a blank page offline).
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        # Swagger UI would otherwise send the schema's address to validator.swagger.io for its badge.
        "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    }


def metrics_dir(service: str) -> str:
    """PROMETHEUS_MULTIPROC_DIR: where every process of `service` (hr or users) writes its metrics,
    merged by /metrics (shared_settings/prometheus.py). One per service; the process supervisor
    empties it at start."""
    return use_multiprocess_dir(
        env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "prometheus" / service))
    )


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


#: Connections are kept between requests and tasks (a reconnect per task cost the events worker
#: 0.6 ms of each apply on SQLite, with its PRAGMAs), and checked before reuse.
PERSISTENT_CONNECTIONS = {"CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}


def database(variable: str, sqlite_name: str) -> dict[str, Any]:
    """The database `variable` names (a URL: postgres://user:password@host:5432/name), else SQLite
    under VAR_DIR."""
    url = env.str(variable, default="")
    if url:
        # Errors name the variable and the scheme, never the URL: it holds a password.
        scheme = urlsplit(url).scheme
        if scheme not in env.DB_SCHEMES:
            raise ImproperlyConfigured(f"{variable} is not a database URL (scheme {scheme!r})")
        try:
            config = env.db_url_config(url)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{variable} is not a valid database URL") from exc
        return config | PERSISTENT_CONNECTIONS
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return {
        # Django's backend, but a transaction waits for the write lock in finer steps (its docstring).
        "ENGINE": "shared_settings.sqlite",
        "NAME": VAR_DIR / sqlite_name,
        # Writers queue for the lock instead of failing with "database is locked".
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        **PERSISTENT_CONNECTIONS,
    }


DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# Compressed copies (gzip) beside each collected file; no manifest, so a template that names a file
# renders without a prior collectstatic (tests, `make run`). The image collects at build time
# (docker/collectstatic.sh): each service's STATIC_ROOT is under VAR_DIR.
# Outside the image nothing is collected (development serves static files through the finders, with
# WHITENOISE_USE_FINDERS on in debug), so whitenoise's warning about a missing STATIC_ROOT says nothing.
warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# A file the long-running processes (relay, bridge, workers, beat) touch while their loop turns, and
# their container's health check reads (docker/healthcheck.py alive); empty: no file is written.
LIVENESS_FILE = env.str("LIVENESS_FILE", default="")

# --- tracing (OpenTelemetry, shared_settings/tracing.py) -------------------------------------------
# Off by default: the trace id still follows each event in logs, envelopes and headers.
OTEL_ENABLED = env.bool("OTEL_ENABLED", default=False)
OTEL_EXPORTER = env.str("OTEL_EXPORTER", default="otlp", choices=("otlp", "console"))
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="http://127.0.0.1:4318")

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
# JSON lines (one object a record, for a log pipeline) or a readable line (`make run`): see
# shared_settings/logs.py for the keys every record carries.
LOG_FORMAT = env.str("LOG_FORMAT", default="json", choices=LOG_FORMATS)
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL, spans=OTEL_ENABLED)
configure_structlog(spans=OTEL_ENABLED)
