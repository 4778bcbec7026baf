"""A worker and beat, as real processes, keep their LIVENESS_FILE fresh while they run: the file
compose's health check (`docker/healthcheck.py alive 60`) reads instead of starting the Celery CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.stack import BASE_DIR, MANAGE, stack_env
from tests.users_service.migrated import migrated_database

CELERY = str(Path(MANAGE[0]).parent / "celery")


@pytest.fixture
def env(redis_server, tmp_path) -> dict:
    env = stack_env(
        aws_endpoint=f"http://127.0.0.1:{free_port()}",
        redis_url=redis_server.url,
        VAR_DIR=str(tmp_path),
        CELERY_BROKER_URL=f"{redis_server.url}/7",
        METRICS_REDIS_URL=f"{redis_server.url}/7",
        LIVENESS_FILE=str(tmp_path / "liveness"),
    )
    for name in ("USERS_DATABASE_URL", "DATABASE_URL"):
        env.pop(name, None)
    migrated_database(env)
    return env


def healthy(env: dict) -> bool:
    check = [sys.executable, str(BASE_DIR / "docker/healthcheck.py"), "alive", "60"]
    return subprocess.run(check, env=env, check=False).returncode == 0


def keeps_beating(process: ManagedProcess, env: dict) -> None:
    path = Path(env["LIVENESS_FILE"])
    wait_until(lambda: path.exists() or not process.running, timeout=90, what=f"{process.name} liveness file")
    assert process.running, process.log_tail()
    assert healthy(env)
    first = path.stat().st_mtime_ns
    # Touched again while it runs (the worker every 5 s, beat at each tick), not only at start.
    wait_until(lambda: path.stat().st_mtime_ns > first, timeout=30, what=f"{process.name} beating again")


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([*MANAGE, "users", "run_worker", "cache"], id="worker"),
        pytest.param([CELERY, "-A", "users_service", "beat", "--max-interval", "1"], id="beat"),
    ],
)
def test_process_keeps_its_liveness_file_fresh(env, tmp_path, command):
    assert not healthy(env)  # nothing written yet: the check fails
    process = ManagedProcess("subject", command, log_dir=tmp_path / "log", env=env, cwd=BASE_DIR).start()
    try:
        keeps_beating(process, env)
    finally:
        assert process.stop(timeout=30) == 0, process.log_tail()


def test_without_liveness_file_nothing_is_written(env, tmp_path):
    env = {k: v for k, v in env.items() if k != "LIVENESS_FILE"}
    process = ManagedProcess(
        "worker", [*MANAGE, "users", "run_worker", "cache"], log_dir=tmp_path / "log", env=env, cwd=BASE_DIR
    ).start()
    try:
        wait_until(
            lambda: " ready." in process.log_path.read_text() or not process.running, timeout=90, what="ready"
        )
        assert process.running, process.log_tail()
    finally:
        process.stop(timeout=30)
    assert not any(name.startswith("liveness") for name in os.listdir(tmp_path))
