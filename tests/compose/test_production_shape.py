"""What compose needs of the code and of its own file to run as production does: health checks that
ask the right question, static files served with debug off, the users service's account, gunicorn
threads, stop grace periods, log rotation, patched images, a database role per service."""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from psycopg import sql
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from devstack.postgres import PostgresProvider
from events.liveness import Liveness
from tests.compose.test_compose import CONTRACT_SERVICES, WORKER_SERVICES, compose
from tests.settings.variables import reads_in
from users_service import queues

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING_LOOPS = ("hr-relay", "users-bridge", "users-beat", *WORKER_SERVICES)


@pytest.fixture(scope="module")
def config() -> dict:
    result = compose("config", "--format", "json", env_file=ROOT / ".env.example")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def healthcheck_command(service: dict) -> str:
    return " ".join(service.get("healthcheck", {}).get("test", []))


def seconds(duration: str) -> float:
    """A compose duration as seconds ('1m30s', '25s')."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration))


# --- health checks ---------------------------------------------------------------------------------


def test_postgres_health_check_asks_over_tcp_not_the_init_servers_socket(config):
    command = healthcheck_command(config["services"]["postgres"])
    checks = re.findall(r"pg_isready[^&]*", command)
    assert len(checks) == 2
    assert all("-h 127.0.0.1" in check for check in checks), checks


@pytest.mark.parametrize("service", LONG_RUNNING_LOOPS)
def test_long_running_loops_are_checked_by_their_liveness_file(config, service):
    definition = config["services"][service]
    assert definition["healthcheck"]["test"] == ["CMD", "python", "docker/healthcheck.py", "alive", "60"]
    assert definition["environment"]["LIVENESS_FILE"].startswith("/tmp/")  # the writable tmpfs


def test_no_health_check_starts_the_celery_cli(config):
    assert [n for n, s in config["services"].items() if "celery" in healthcheck_command(s)] == []


def run_check(*args: str, liveness_file: Path | None) -> int:
    env = {"PATH": os.environ["PATH"]}
    if liveness_file is not None:
        env["LIVENESS_FILE"] = str(liveness_file)
    return subprocess.run(
        [sys.executable, str(ROOT / "docker/healthcheck.py"), *args], env=env, cwd="/", check=False
    ).returncode


def test_alive_check_follows_the_liveness_file(tmp_path):
    path = tmp_path / "liveness"
    assert run_check("alive", "60", liveness_file=path) == 1  # never beaten
    Liveness(path).beat()
    assert run_check("alive", "60", liveness_file=path) == 0
    stale = time.time() - 120
    os.utime(path, (stale, stale))
    assert run_check("alive", "60", liveness_file=path) == 1
    assert run_check("alive", "60", liveness_file=None) == 1  # a container without the variable


def test_liveness_without_a_path_writes_nothing(tmp_path):
    Liveness(None).beat()
    Liveness("").beat()
    assert list(tmp_path.iterdir()) == []


# --- static files ----------------------------------------------------------------------------------


def test_image_collects_static_files_at_build_time():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "RUN docker/collectstatic.sh" in dockerfile
    script = (ROOT / "docker/collectstatic.sh").read_text()
    assert "manage.py hr collectstatic" in script
    assert "manage.py users collectstatic" in script


def test_collected_admin_styles_are_served_with_debug_off(settings, tmp_path):
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", "--noinput", verbosity=0)
    response = APIClient().get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"/*")
    assert "max-age" in response.headers.get("Cache-Control", "")


# --- the users service's account in the monolith ---------------------------------------------------

TOKEN = "a" * 40


@pytest.fixture
def token_env(monkeypatch):
    monkeypatch.setenv("MONOLITH_API_TOKEN", TOKEN)
    return TOKEN


@pytest.mark.django_db
def test_service_account_is_a_reader_with_the_shared_token(token_env):
    call_command("ensure_service_account", "users-service", "--token-from", "MONOLITH_API_TOKEN")
    account = get_user_model().objects.get(username="users-service")
    assert not account.is_staff
    assert not account.is_superuser
    assert not account.has_usable_password()
    assert Token.objects.get(user=account).key == TOKEN
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {TOKEN}")
    assert client.get("/api/users/").status_code == 200
    assert client.post("/api/users/", {"email": "x@example.com"}, format="json").status_code == 403


@pytest.mark.django_db
def test_service_account_is_idempotent_and_repairs_what_was_granted_by_hand(token_env, monkeypatch):
    call_command("ensure_service_account", "users-service", "--token-from", "MONOLITH_API_TOKEN")
    account = get_user_model().objects.get(username="users-service")
    account.is_staff = True
    account.set_password("guessable")
    account.save()
    call_command("ensure_service_account", "users-service", "--token-from", "MONOLITH_API_TOKEN")
    account.refresh_from_db()
    assert not account.is_staff
    assert not account.has_usable_password()
    assert list(Token.objects.filter(user=account).values_list("key", flat=True)) == [TOKEN]
    # A new secret replaces the old token.
    monkeypatch.setenv("MONOLITH_API_TOKEN", "b" * 32)
    call_command("ensure_service_account", "users-service", "--token-from", "MONOLITH_API_TOKEN")
    assert list(Token.objects.filter(user=account).values_list("key", flat=True)) == ["b" * 32]
    assert get_user_model().objects.filter(username="users-service").count() == 1


@pytest.mark.django_db
def test_service_account_gets_exactly_the_permissions_named(token_env):
    """The users service reads outbox times to trace an event: that permission, and only it."""
    command = ("ensure_service_account", "users-service", "--token-from", "MONOLITH_API_TOKEN")
    call_command(*command, "--permission", "outbox.view_outboxevent")
    account = get_user_model().objects.get(username="users-service")
    assert account.get_all_permissions() == {"outbox.view_outboxevent"}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {TOKEN}")
    assert client.post("/api/users/", {"email": "x@example.com"}, format="json").status_code == 403
    call_command(*command)
    account = get_user_model().objects.get(username="users-service")
    assert account.get_all_permissions() == set()
    with pytest.raises(CommandError):
        call_command(*command, "--permission", "outbox.no_such_permission")


@pytest.mark.django_db
@pytest.mark.parametrize("value", [None, "", "short", "x" * 41])
def test_service_account_refuses_a_missing_or_unusable_token(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("MONOLITH_API_TOKEN", raising=False)
    else:
        monkeypatch.setenv("MONOLITH_API_TOKEN", value)
    with pytest.raises(CommandError):
        call_command("ensure_service_account", "users-service", "--token-from", "MONOLITH_API_TOKEN")
    assert not Token.objects.exists()


def test_migrate_step_creates_the_account_with_the_token_compose_gives_the_users_service(config):
    script = (ROOT / "docker/migrate.sh").read_text()
    assert (
        "manage.py hr ensure_service_account users-service --token-from MONOLITH_API_TOKEN"
        " --permission outbox.view_outboxevent"
    ) in script
    services = config["services"]
    token = services["migrate"]["environment"]["MONOLITH_API_TOKEN"]
    assert token
    for name in ("users-web", *WORKER_SERVICES):
        assert services[name]["environment"]["MONOLITH_API_TOKEN"] == token, name


# --- gunicorn ----------------------------------------------------------------------------------------


def test_web_scripts_run_gunicorn_with_the_shared_config():
    assert "--config docker/gunicorn.conf.py" in (ROOT / "docker" / "web.sh").read_text()


@pytest.mark.parametrize(
    ("script", "wsgi", "metrics", "bind"),
    [
        ("hr-web.sh", "hr_monolith.wsgi:application", "prometheus/hr", "0.0.0.0:8000"),
        ("users-web.sh", "users_service.wsgi:application", "prometheus/users", "0.0.0.0:8001"),
    ],
)
def test_web_script_execs_gunicorn_on_its_service_port_and_metrics_directory(
    tmp_path, script, wsgi, metrics, bind
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Stands in for gunicorn: prints the command line it was given and the metrics directory.
    fake = bin_dir / "gunicorn"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$PROMETHEUS_MULTIPROC_DIR" "$@"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "VAR_DIR": str(tmp_path / "var")}

    result = subprocess.run(
        [str(ROOT / "docker" / script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )

    metrics_dir, command = result.stdout.split("\n", 1)
    assert metrics_dir == str(tmp_path / "var" / metrics)
    expected = f"{wsgi} --config docker/gunicorn.conf.py --bind {bind} --no-control-socket"
    assert " ".join(command.split()) == expected


def test_gunicorn_runs_gthread_with_workers_and_threads_from_the_environment(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("WEB_THREADS", "12")
    conf = runpy.run_path(str(ROOT / "docker/gunicorn.conf.py"))
    assert (conf["worker_class"], conf["workers"], conf["threads"]) == ("gthread", 3, 12)


def test_compose_sets_threads_for_each_web_service(config):
    for name in ("hr-web", "users-web"):
        assert int(config["services"][name]["environment"]["WEB_THREADS"]) > 1, name


# --- stopping ----------------------------------------------------------------------------------------


def test_every_long_running_app_service_has_a_stop_grace_period(config):
    services = config["services"]
    app = {n for n in CONTRACT_SERVICES if n.startswith(("hr-", "users-")) or n == "flower"}
    assert sorted(n for n in app if "stop_grace_period" not in services[n]) == []


@pytest.mark.parametrize("role", sorted(queues.ROLES))
def test_worker_grace_outlasts_its_roles_time_limit(config, role):
    grace = seconds(config["services"][f"users-worker-{role}"]["stop_grace_period"])
    assert grace > queues.ROLES[role].time_limit


def test_web_grace_outlasts_gunicorns_graceful_timeout(config):
    conf = runpy.run_path(str(ROOT / "docker/gunicorn.conf.py"))
    for name in ("hr-web", "users-web"):
        assert seconds(config["services"][name]["stop_grace_period"]) > conf["graceful_timeout"], name


def test_bridge_grace_outlasts_its_documented_stop_bound(config):
    # docs/bridge-shutdown.md: BRIDGE_STOP_GRACE_SECONDS plus the interpreter's exit (up to ~2 s).
    [stop_grace] = [
        r.default for r in reads_in("users_service/settings.py") if r.name == "BRIDGE_STOP_GRACE_SECONDS"
    ]
    assert seconds(config["services"]["users-bridge"]["stop_grace_period"]) >= stop_grace + 2


# --- logs and images ---------------------------------------------------------------------------------


def test_every_service_rotates_its_logs(config):
    for name, service in config["services"].items():
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", name
        assert logging["options"]["max-size"], name
        assert int(logging["options"]["max-file"]) >= 1, name


def version(image: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.match(r"[^:]+:(\d+(?:\.\d+)*)", image).group(1).split("."))


def test_images_are_on_patched_releases(config):
    services = config["services"]
    for name in ("redis-broker", "redis-cache"):
        assert (7, 4, 6) <= version(services[name]["image"]) < (7, 5), name
    assert (16, 15) <= version(services["postgres"]["image"]) < (17,)
    assert version(services["localstack"]["image"])[:2] == (4, 13)


# --- a PostgreSQL role per service -----------------------------------------------------------------


def test_services_connect_with_their_own_role_not_the_superuser(config):
    services = config["services"]
    for name in ("hr-web", "hr-relay"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://hr:"), name
    for name in ("users-web", "users-bridge", "users-beat", *WORKER_SERVICES):
        assert services[name]["environment"]["USERS_DATABASE_URL"].startswith("postgres://users:"), name


@pytest.fixture(scope="module")
def postgres_admin():
    provider = PostgresProvider.find_or_start()
    yield provider.admin_url
    provider.close()


def test_postgres_init_gives_each_service_a_role_owning_only_its_database(postgres_admin):
    """The init script as the postgres image runs it (psql as the superuser), on databases of unique
    names on a real server; each role reaches its own database and not the other's."""
    suffix = uuid.uuid4().hex[:8]
    names = [f"hr_{suffix}", f"users_{suffix}"]
    passwords = {name: f"pw-{name}" for name in names}
    admin = psycopg.conninfo.conninfo_to_dict(postgres_admin)
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": admin.get("host", "127.0.0.1"),
        "PGPORT": str(admin.get("port", 5432)),
        "POSTGRES_USER": admin.get("user", "postgres"),
        "POSTGRES_MULTIPLE_DATABASES": ",".join(names),
        **{f"{name.upper()}_DATABASE_PASSWORD": password for name, password in passwords.items()},
    }
    try:
        subprocess.run(
            ["bash", str(ROOT / "docker/postgres-init.sh")], env=env, check=True, capture_output=True
        )
        with psycopg.connect(postgres_admin, autocommit=True) as conn:
            roles = dict(
                conn.execute(
                    "SELECT rolname, rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles"
                    " WHERE rolname = ANY(%s)",
                    (names,),
                ).fetchall()
            )
            owners = dict(
                conn.execute(
                    "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = ANY(%s)",
                    (names,),
                ).fetchall()
            )
        assert roles == dict.fromkeys(names, False)
        assert owners == {name: name for name in names}
        base = postgres_admin.rsplit("@", 1)[1].rsplit("/", 1)[0]
        own, other = names
        with psycopg.connect(f"postgresql://{own}:{passwords[own]}@{base}/{own}") as conn:
            conn.execute("CREATE TABLE t (id int)")  # it may migrate its own database
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(f"postgresql://{own}:{passwords[own]}@{base}/{other}")
    finally:
        with psycopg.connect(postgres_admin, autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
