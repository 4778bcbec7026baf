"""Both services and their pipeline as local processes: the set-up steps and start-up the end-to-end
and browser tests share (environment, databases and accounts, web servers, stop on the way out)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from devstack.processes import ManagedProcess, stop_all, wait_until
from devstack.stack import BASE_DIR, MANAGE, ensure_admin, ensure_service_account, manage, stack_env

SERVICES = ("hr", "users")
#: The users service's account on the monolith: it reads the API (catalogue, resources) and an
#: event's outbox times (`manage.py users trace`).
USERS_SERVICE_ACCOUNT = "users-service"
USERS_SERVICE_PERMISSIONS = ("outbox.view_outboxevent",)


def local_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def pipeline_env(
    *,
    workdir: Path,
    aws_endpoint: str,
    redis_url: str,
    broker_db: int,
    cache_db: int,
    hr_port: int,
    **extra: str,
) -> dict:
    """`stack_env` for a stack whose files are under `workdir`, whose broker and cache are databases of
    the Redis at `redis_url`, whose monolith listens on `hr_port`; the bridge long-polls for 1 s."""
    return stack_env(
        aws_endpoint=aws_endpoint,
        redis_url=redis_url,
        VAR_DIR=str(workdir),
        CELERY_BROKER_URL=f"{redis_url}/{broker_db}",
        CACHE_REDIS_URL=f"{redis_url}/{cache_db}",
        MONOLITH_URL=local_url(hr_port),
        BRIDGE_WAIT_SECONDS="1",
        **extra,
    )


def set_up_services(env: dict, *, admin: str, password: str, demo_users: int = 0) -> dict[str, str]:
    """Migrate both databases and create an admin in each, side by side (the databases are
    independent, each step is a process); on the monolith also the users service's account (its
    token goes into env's MONOLITH_API_TOKEN) and `demo_users` demo employees. Returns each
    service's admin token."""

    def set_up(service: str) -> str:
        manage(service, "migrate", "--noinput", env=env)
        token = ensure_admin(service, username=admin, password=password, env=env)
        if service == "hr":
            env["MONOLITH_API_TOKEN"] = ensure_service_account(
                "hr", username=USERS_SERVICE_ACCOUNT, env=env, permissions=USERS_SERVICE_PERMISSIONS
            )
            if demo_users:
                manage("hr", "load_demo_data", "--users", str(demo_users), env=env)
        return token

    with ThreadPoolExecutor(max_workers=len(SERVICES)) as pool:
        return dict(zip(SERVICES, pool.map(set_up, SERVICES), strict=True))


def runserver(service: str, port: int) -> list[str]:
    """Django's development server for `service` (hr or users) on 127.0.0.1:`port`."""
    return [*MANAGE, service, "runserver", f"127.0.0.1:{port}", "--noreload"]


def is_live(base_url: str) -> bool:
    """The web process answers `/health/live/` (`/health/` would also ask about every part of the
    pipeline, which a test stack may leave out or break on purpose)."""
    try:
        return requests.get(f"{base_url}/health/live/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@dataclass
class RunningServices:
    """Both web servers' addresses and the stack's processes by name."""

    hr_url: str
    users_url: str
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def logs(self, lines: int = 25) -> str:
        return "\n".join(f"--- {name}\n{p.log_tail(lines)}" for name, p in self.processes.items())


@contextmanager
def running_services(
    *,
    env: dict,
    workdir: Path,
    hr_port: int,
    users_port: int,
    commands: Mapping[str, Sequence[str]],
    timeout: float = 30.0,
) -> Iterator[RunningServices]:
    """Both web servers (`runserver`) and `commands` (name -> command line) started with `env`, logs
    under `workdir`/log; yields once both web servers are live (else TimeoutError with the logs' tails);
    stops every process on the way out."""
    running = RunningServices(local_url(hr_port), local_url(users_port))
    every = {"hr-web": runserver("hr", hr_port), "users-web": runserver("users", users_port), **commands}
    try:
        for name, command in every.items():
            running.processes[name] = ManagedProcess(
                name, command, log_dir=workdir / "log", env=env, cwd=BASE_DIR
            ).start()
        try:
            for url in (running.hr_url, running.users_url):
                wait_until(lambda url=url: is_live(url), timeout=timeout, what=url)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{running.logs()}") from None
        yield running
    finally:
        stop_all(list(running.processes.values()))
