"""The whole stack as real processes: moto server or LocalStack (AWS_EMULATOR), Redis,
both web servers, relay, bridge, worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.redis import RedisServer
from devstack.stack import (
    BASE_DIR,
    MANAGE,
    create_topology,
    ensure_admin,
    ensure_service_account,
    manage,
    stack_env,
)


@dataclass
class Stack:
    hr_url: str
    users_url: str
    hr_token: str
    users_token: str
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    #: The environment every process of the stack got (to run a management command against it).
    env: dict = field(default_factory=dict)

    def hr(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(
            method,
            self.hr_url + path,
            timeout=10,
            headers={"Authorization": f"Token {self.hr_token}", **kwargs.pop("headers", {})},
            **kwargs,
        )

    def users(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(
            method,
            self.users_url + path,
            timeout=10,
            headers={"Authorization": f"Token {self.users_token}"},
            **kwargs,
        )

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{p.log_tail(25)}" for name, p in self.processes.items())

    def wait_for(self, predicate, *, timeout: float = 45.0, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        pytest.fail(f"{what}: not seen within {timeout:.0f}s\n{self.logs()}")


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def stack(emulator_url: str, redis_server: RedisServer, tmp_path_factory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("stack")
    hr_port, users_port = free_port(), free_port()
    env = stack_env(
        aws_endpoint=emulator_url,
        redis_url=redis_server.url,
        VAR_DIR=str(workdir),
        CELERY_BROKER_URL=f"{redis_server.url}/2",
        CACHE_REDIS_URL=f"{redis_server.url}/3",
        MONOLITH_URL=f"http://127.0.0.1:{hr_port}",
        BRIDGE_WAIT_SECONDS="1",
        RELAY_POLL_INTERVAL="0.05",
        LOG_LEVEL="INFO",
    )
    create_topology(env)
    manage("hr", "migrate", "--noinput", env=env)
    manage("users", "migrate", "--noinput", env=env)
    hr_token = ensure_admin("hr", username="admin", password="pw", env=env)
    users_token = ensure_admin("users", username="admin", password="pw", env=env)
    # The users service reads the monolith's API (catalogue, resources) with an account of its own.
    # It may also read an event's outbox times (`manage.py users trace`).
    env["MONOLITH_API_TOKEN"] = ensure_service_account(
        "hr", username="users-service", env=env, permissions=("outbox.view_outboxevent",)
    )
    commands = {
        "hr-web": [*MANAGE, "hr", "runserver", f"127.0.0.1:{hr_port}", "--noreload"],
        "users-web": [*MANAGE, "users", "runserver", f"127.0.0.1:{users_port}", "--noreload"],
        "hr-relay": [*MANAGE, "hr", "relay_outbox"],
        "users-bridge": [*MANAGE, "users", "run_bridge", "--threads", "2"],
        "users-worker": [
            str(Path(MANAGE[0]).parent / "celery"),
            "-A",
            "users_service",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "4",
            "--queues",
            "events,cache,reports",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
    }
    stack = Stack(
        f"http://127.0.0.1:{hr_port}", f"http://127.0.0.1:{users_port}", hr_token, users_token, env=env
    )
    try:
        for name, command in commands.items():
            stack.processes[name] = ManagedProcess(
                name, command, log_dir=workdir / "log", env=env, cwd=BASE_DIR
            ).start()
        # The web processes answer (liveness); /health/ would also wait for the pipeline's parts,
        # and this stack runs no beat.
        wait_until(lambda: _http_ok(stack.hr_url + "/health/live/"), timeout=30, what="monolith")
        wait_until(lambda: _http_ok(stack.users_url + "/health/live/"), timeout=30, what="users service")
        yield stack
    finally:
        for process in stack.processes.values():
            process.stop()
