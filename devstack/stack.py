"""Environment and one-off setup steps shared by `make run` and the end-to-end tests."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from devstack.development import development_env
from events.aws import AwsSettings, client
from events.topology import Topology, TopologyNames, ensure_topology

BASE_DIR = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]

#: Credentials the emulators accept; real AWS credentials come from the environment.
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def stack_env(*, aws_endpoint: str, redis_url: str, base: dict | None = None, **extra: str) -> dict:
    """The environment every process of the embedded stack gets."""
    env = dict(os.environ if base is None else base)
    # Each process picks its own service (manage.py hr|users, celery -A users_service).
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # Each service keeps its metrics in a directory of its own under VAR_DIR: one inherited
    # directory would mix the two services' metrics in each /metrics.
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # Development mode unless the caller says otherwise (a benchmark may ask for production).
    for name, value in development_env().items():
        env.setdefault(name, value)
    for name, value in EMULATOR_CREDENTIALS.items():
        env.setdefault(name, value)
    env["AWS_ENDPOINT_URL"] = aws_endpoint
    env.setdefault("CELERY_BROKER_URL", f"{redis_url}/0")
    env.setdefault("CACHE_REDIS_URL", f"{redis_url}/1")
    # The relay wakes on a commit: NOTIFY on PostgreSQL, a nudge through this Redis on SQLite.
    env.setdefault("RELAY_WAKE_REDIS_URL", f"{redis_url}/0")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def create_topology(env: dict) -> Topology:
    aws = AwsSettings.from_env(env)
    return ensure_topology(client("sns", aws), client("sqs", aws), TopologyNames.from_env(env))


def manage(service: str, *args: str, env: dict, capture: bool = False) -> str:
    """Run `manage.py <service> <args>`; raise with its output if it fails."""
    result = subprocess.run([*MANAGE, service, *args], env=env, cwd=BASE_DIR, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {service} {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout if capture else ""


def ensure_admin(service: str, *, username: str, password: str, env: dict) -> str:
    """Create a superuser if missing (Django's own createsuperuser) and return its API token."""
    create_env = {**env, "DJANGO_SUPERUSER_PASSWORD": password}
    result = subprocess.run(
        [
            *MANAGE,
            service,
            "createsuperuser",
            "--noinput",
            "--username",
            username,
            "--email",
            f"{username}@example.com",
        ],
        env=create_env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 and "already taken" not in result.stderr:
        raise RuntimeError(f"createsuperuser failed: {result.stderr}")
    return api_token(service, username=username, env=env)


def ensure_service_account(
    service: str, *, username: str, env: dict, permissions: tuple[str, ...] = ()
) -> str:
    """A plain account (no staff, no superuser, no password) for another service; returns its token.

    The same command compose's migrate step runs (`hr ensure_service_account`): the account reads
    the API and holds only `permissions` (`app_label.codename`). The token is MONOLITH_API_TOKEN
    when the environment gives one, else a new random one.
    """
    token = env.get("MONOLITH_API_TOKEN") or secrets.token_hex(20)
    flags = [f"--permission={permission}" for permission in permissions]
    command = ["ensure_service_account", username, "--token-from", "MONOLITH_API_TOKEN", *flags]
    manage(service, *command, env={**env, "MONOLITH_API_TOKEN": token})
    return token


def api_token(service: str, *, username: str, env: dict) -> str:
    """The account's DRF token, created if missing (DRF's own `drf_create_token`)."""
    output = manage(service, "drf_create_token", username, env=env, capture=True)
    match = re.search(r"token (\S+) for user", output)
    if not match:
        raise RuntimeError(f"unexpected drf_create_token output: {output!r}")
    return match.group(1)
