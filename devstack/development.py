"""Development mode, as `make run`, the tests and the benchmarks run the services: DJANGO_DEBUG
on, and the two secret keys, each generated once and kept under var/secrets/ so that sessions
survive a restart. A deployment sets its own keys and leaves DJANGO_DEBUG off."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
#: The variables the settings refuse to start without.
SECRET_KEY_VARIABLES = ("HR_SECRET_KEY", "USERS_SECRET_KEY")
#: Production mode served over plain HTTP (compose's `x-plain-http-env`, the cache benchmarks): what
#: plain HTTP cannot have, turned off by name; every other secure default stays.
PLAIN_HTTP_ENV = {
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_SECURE_HSTS_SECONDS": "0",
    "DJANGO_SESSION_COOKIE_SECURE": "false",
    "DJANGO_CSRF_COOKIE_SECURE": "false",
}


def kept_secret(path: Path) -> str:
    """The secret stored at `path`, created (random, readable by its owner only) if missing.

    Safe when several processes start at once: the first file linked into place wins."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(50))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()


def secret_keys(var_dir: Path = BASE_DIR / "var") -> dict[str, str]:
    return {name: kept_secret(var_dir / "secrets" / name.lower()) for name in SECRET_KEY_VARIABLES}


def development_env(var_dir: Path = BASE_DIR / "var") -> dict[str, str]:
    """The variables that put both services in development mode."""
    return {"DJANGO_DEBUG": "true", **secret_keys(var_dir)}
