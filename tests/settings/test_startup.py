"""Both services' settings as a deployment meets them: each test starts a fresh process with a
clean environment (only what the test sets), as a container would."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from devstack.stack import BASE_DIR

SERVICES = {"hr": "hr_monolith.settings", "users": "users_service.settings"}
SECRET_KEYS = {"hr": "HR_SECRET_KEY", "users": "USERS_SECRET_KEY"}


def clean_env(**variables: str) -> dict[str, str]:
    """PATH and the two secret keys (strong, as `check --deploy` wants them), plus `variables`."""
    keys = {name: secrets.token_urlsafe(50) for name in SECRET_KEYS.values()}
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **keys, **variables}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def settings_of(service: str, env: dict[str, str], *names: str) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}))"
    )
    result = run(["-c", code], {**env, "DJANGO_SETTINGS_MODULE": SERVICES[service]})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_check_deploy_passes_with_only_the_secret_keys_set(service):
    result = run(["manage.py", service, "check", "--deploy", "--fail-level", "WARNING"], clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    # No warning at all, and none silenced.
    assert result.stdout.strip() == "System check identified no issues (0 silenced).", result.stderr


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_missing_secret_key_stops_the_start_naming_the_variable(service):
    env = clean_env()
    del env[SECRET_KEYS[service]]
    result = run(["manage.py", service, "check"], env)
    assert result.returncode != 0
    assert f"Set the {SECRET_KEYS[service]} environment variable" in result.stderr


@pytest.mark.parametrize(
    ("service", "variable", "value", "message"),
    [
        ("hr", "RELAY_BATCH_SIZE", "ten", "RELAY_BATCH_SIZE='ten' is not an integer"),
        ("users", "CELERY_TASK_MAX_RETRIES", "8x", "CELERY_TASK_MAX_RETRIES='8x' is not an integer"),
        ("users", "DJANGO_DEBUG", "ture", "DJANGO_DEBUG='ture' is not a boolean"),
        ("users", "CELERY_RESULT_BACKEND", "django-cache", "CELERY_RESULT_BACKEND must be a redis://"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(service, variable, value, message):
    result = run(["manage.py", service, "check"], clean_env(**{variable: value}))
    assert result.returncode != 0
    assert message in result.stderr


SECURITY = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_NAME",
    "CSRF_COOKIE_NAME",
]


def test_production_is_the_default_and_development_mode_is_asked_for():
    production = settings_of("users", clean_env(), *SECURITY)
    assert production == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        # Trusted only when a proxy is said to set it.
        "SECURE_PROXY_SSL_HEADER": None,
        "SESSION_COOKIE_NAME": "users_sessionid",
        "CSRF_COOKIE_NAME": "users_csrftoken",
    }
    development = settings_of("users", clean_env(DJANGO_DEBUG="true"), *SECURITY[:5])
    assert development == {
        "DEBUG": True,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
    }


def test_each_https_setting_can_be_changed_from_the_environment():
    env = clean_env(
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_HSTS_SECONDS="0",
        DJANGO_SESSION_COOKIE_SECURE="false",
        DJANGO_CSRF_COOKIE_SECURE="false",
        DJANGO_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO, https",
    )
    assert settings_of("hr", env, *SECURITY) == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_NAME": "hr_sessionid",
        "CSRF_COOKIE_NAME": "hr_csrftoken",
    }
