"""The whole stack as real processes: moto server or LocalStack (AWS_EMULATOR), Redis,
both web servers, relay, bridge, worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from devstack.processes import free_port
from devstack.redis import RedisServer
from devstack.service_stack import RunningServices, pipeline_env, running_services, set_up_services
from devstack.stack import MANAGE, create_topology
from tests.conftest import emulator_server_url


@dataclass(kw_only=True)
class Stack(RunningServices):
    hr_token: str
    users_token: str
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

    def wait_for(self, predicate, *, timeout: float = 45.0, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        pytest.fail(f"{what}: not seen within {timeout:.0f}s\n{self.logs()}")


@pytest.fixture(scope="package")
def stack(request: pytest.FixtureRequest, redis_server: RedisServer, tmp_path_factory) -> Iterator[Stack]:
    """One stack for the package: its tests use people and departments of their own, and the test
    that stops the relay starts it again (each module's own stack cost ~25 s to start)."""
    emulator_url = emulator_server_url(request)
    workdir: Path = tmp_path_factory.mktemp("stack")
    hr_port, users_port = free_port(), free_port()
    env = pipeline_env(
        workdir=workdir,
        aws_endpoint=emulator_url,
        redis_url=redis_server.url,
        broker_db=2,
        cache_db=3,
        hr_port=hr_port,
        RELAY_POLL_INTERVAL="0.05",
        LOG_LEVEL="INFO",
    )
    create_topology(env)
    tokens = set_up_services(env, admin="admin", password="pw")
    commands = {
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
    # Ready once the web processes are live: this stack runs no beat, which /health/ would miss.
    with running_services(
        env=env, workdir=workdir, hr_port=hr_port, users_port=users_port, commands=commands
    ) as running:
        yield Stack(
            hr_url=running.hr_url,
            users_url=running.users_url,
            processes=running.processes,
            hr_token=tokens["hr"],
            users_token=tokens["users"],
            env=env,
        )
