"""What the cache benchmarks share: both services under gunicorn (threads) on free ports, two Redis
(broker with noeviction, cache with allkeys-lru and a memory cap), SQLite, demo data,
and wrk at a given concurrency."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench._databases import BenchDatabases
from bench.common import cpu_seconds_of, log
from devstack.development import PLAIN_HTTP_ENV
from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.redis import RedisServer
from devstack.stack import BASE_DIR, MANAGE, ensure_admin, manage, stack_env

GUNICORN = str(Path(MANAGE[0]).parent / "gunicorn")
#: The web services' gunicorn settings, as docker/web.sh passes them.
PRODUCT_CONFIG = BASE_DIR / "docker" / "gunicorn.conf.py"
#: Grants given to the demo employees, so that the resources body is not empty.
SEED_GRANTS = """
from hr_monolith.people.models import User
from hr_monolith.resources.services import resource_grant
resources = ("vpn", "wiki", "payroll", "crm")
for n, user in enumerate(User.objects.order_by("email")):
    for resource in resources[: 1 + n % len(resources)]:
        resource_grant(user_id=user.id, resource=resource, level="read")
"""


@dataclass
class CacheStack:
    hr_url: str
    hr_token: str
    users_urls: dict[str, str]
    users_token: str
    env: dict
    user_ids: list[str] = field(default_factory=list)
    #: Root pid of each server process (gunicorn masters, Redis), for CPU accounting.
    pids: dict[str, int] = field(default_factory=dict)

    def hr_headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.hr_token}"}

    def users_headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.users_token}"}

    def counters(self, name: str = "default", *, settle_seconds: float = 0.0) -> dict[str, float]:
        """The users service's /metrics (every web worker's counts, merged from the service's
        Prometheus multiprocess directory: no flush to wait for)."""
        time.sleep(settle_seconds)
        text = requests.get(self.users_urls[name] + "/metrics", timeout=5).text
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                values[series] = float(value)
        return values


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        log("installing wrk with apt-get")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("this benchmark needs wrk (apt-get install wrk)")
    return found


def _gunicorn(
    name: str,
    module: str,
    port: int,
    *,
    env: dict,
    workdir: Path,
    threads: int,
    workers: int = 2,
    app: str | None = None,
    extra_args: Sequence[str] = (),
    product_config: bool = True,
) -> ManagedProcess:
    """gunicorn serving `module`'s WSGI application (or `app`, as gunicorn names one) as the services
    ship it (docker/web.sh: docker/gunicorn.conf.py, gthread, the access log on stdout), with
    `workers` x `threads`; `product_config=False`: gthread without the config (no access log)."""
    if product_config:
        shape = ["--config", str(PRODUCT_CONFIG)]
        # The config's child_exit hook marks a gone worker's metrics, in the service's directory.
        metrics = env.get("PROMETHEUS_MULTIPROC_DIR") or _metrics_dir(env, module)
        env = {**env, "PROMETHEUS_MULTIPROC_DIR": metrics}
    else:
        shape = ["--worker-class", "gthread"]
    command = [
        GUNICORN,
        app or f"{module}.wsgi:application",
        *shape,
        "--bind",
        f"127.0.0.1:{port}",
        "--no-control-socket",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        *extra_args,
    ]
    return ManagedProcess(name, command, log_dir=workdir / "log", env=env, cwd=BASE_DIR).start()


def _metrics_dir(env: dict, module: str) -> str:
    """Where the service's settings put its metrics (shared_settings.base.metrics_dir), as docker/web.sh
    tells gunicorn's master."""
    service = {"hr_monolith": "hr", "users_service": "users"}[module]
    return str(Path(env["VAR_DIR"]) / "prometheus" / service)


def _answers(url: str) -> bool:
    # Any answer will do: the users service's /health/ is 503 here, as it checks an SQS not started.
    try:
        requests.get(url, timeout=1)
    except requests.RequestException:
        return False
    return True


def _redis_pair(stack: ExitStack, workdir: Path) -> tuple[RedisServer, RedisServer]:
    """The broker Redis, which never evicts, and the cache Redis, LRU under a cap."""
    broker = RedisServer(
        free_port(), workdir / "redis-broker", extra_args=("--maxmemory-policy", "noeviction")
    )
    cache = RedisServer(
        free_port(),
        workdir / "redis-cache",
        extra_args=("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"),
    )
    for server in (broker.start(), cache.start()):
        stack.callback(server.stop)
    return broker, cache


def _stack_env(
    workdir: Path, broker: RedisServer, cache: RedisServer, hr_port: int, databases: BenchDatabases | None
) -> dict:
    env = stack_env(
        aws_endpoint="http://127.0.0.1:9",  # SNS/SQS are not used here
        redis_url=broker.url,
        VAR_DIR=str(workdir),
        CELERY_BROKER_URL=f"{broker.url}/0",
        CACHE_REDIS_URL=f"{cache.url}/0",
        MONOLITH_URL=f"http://127.0.0.1:{hr_port}",
        # Production mode, served over plain HTTP on 127.0.0.1.
        DJANGO_DEBUG="false",
        **PLAIN_HTTP_ENV,
        LOG_LEVEL="WARNING",
        # One bench client makes thousands of requests a second: the throttles still run (their
        # cost is measured) but must not refuse them. The monolith's (DRF's) keeps a history of
        # the rate's period per client: a one-second period keeps it short.
        USERS_API_THROTTLE_USER="100000000/min",
        HR_API_THROTTLE_USER="1000000/s",
    )
    # SQLite files in the temporary directory, whatever database the caller's environment names,
    # unless the caller brings databases of its own.
    for variable, service in (("DATABASE_URL", "hr"), ("USERS_DATABASE_URL", "users")):
        env.pop(variable, None)
        if databases is not None and (url := databases.url(service)):
            env[variable] = url
    return env


def _seed(env: dict, employees: int) -> tuple[str, str]:
    """Migrated databases, demo data with resource grants, and the accounts: (monolith token, users
    service token); the users service's own account on the monolith goes into `env`."""
    log("migrating, loading demo data")
    started = time.monotonic()
    manage("hr", "migrate", "--noinput", env=env)
    manage("users", "migrate", "--noinput", env=env)
    manage("hr", "load_demo_data", "--users", str(employees), env=env)
    manage("hr", "shell", "-c", SEED_GRANTS, env=env)
    log(f"  set up in {time.monotonic() - started:.1f}s")
    hr_token = ensure_admin("hr", username="bench", password="pw", env=env)
    env["MONOLITH_API_TOKEN"] = ensure_admin("hr", username="users-service", password="pw", env=env)
    return hr_token, ensure_admin("users", username="bench", password="pw", env=env)


@contextmanager
def cache_stack(
    *,
    employees: int = 200,
    users_services: dict[str, dict[str, str]] | None = None,
    threads: int = 32,
    users_layout: tuple[int, int] | None = None,
    databases: BenchDatabases | None = None,
    env_extra: dict[str, str] | None = None,
) -> Iterator[CacheStack]:
    """Start the stack; `users_services` maps a name to extra environment (one gunicorn each);
    `databases` in place of SQLite, `env_extra` for every process.

    The monolith runs 2 workers x `threads` threads; the users service the same unless
    `users_layout` gives its (workers, threads).
    """
    users_workers, users_threads = users_layout or (2, threads)
    users_services = users_services or {"default": {}}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        workdir = Path(tmp)
        broker, cache = _redis_pair(stack, workdir)
        hr_port = free_port()
        env = {**_stack_env(workdir, broker, cache, hr_port, databases), **(env_extra or {})}
        hr_token, users_token = _seed(env, employees)
        processes = [_gunicorn("hr-web", "hr_monolith", hr_port, env=env, workdir=workdir, threads=threads)]
        users_urls = {}
        for name, extra in users_services.items():
            port = free_port()
            users_urls[name] = f"http://127.0.0.1:{port}"
            users_env = {**env, **extra}
            processes.append(
                _gunicorn(
                    f"users-web-{name}",
                    "users_service",
                    port,
                    env=users_env,
                    workdir=workdir,
                    threads=users_threads,
                    workers=users_workers,
                )
            )
        for process in processes:
            stack.callback(process.stop)
        result = CacheStack(f"http://127.0.0.1:{hr_port}", hr_token, users_urls, users_token, env)
        result.pids = {
            "redis_broker": broker.process.pid,
            "redis_cache": cache.process.pid,
            **{process.name: process.process.pid for process in processes},
        }
        for url in [result.hr_url, *users_urls.values()]:
            wait_until(lambda url=url: _answers(url + "/health/"), timeout=120, what=url)
        result.user_ids = _employee_ids(result, employees)
        yield result


def _employee_ids(stack: CacheStack, employees: int) -> list[str]:
    listing = requests.get(
        stack.hr_url + "/api/users/", params={"limit": employees}, headers=stack.hr_headers(), timeout=10
    ).json()
    return [user["id"] for user in listing["results"]]


#: Counts are in /metrics as soon as they are made (multiprocess mode): nothing to wait for.
COUNTERS_SETTLE_SECONDS = 0.0


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int

    def figures(self) -> dict[str, float]:
        """The figures a benchmark reports, latency first."""
        return {
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "requests_per_second": self.requests_per_second,
            "requests": self.requests,
            "errors": self.errors,
        }


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS_MS[unit]


def wrk(
    base_url: str, paths: Sequence[str], *, token: str, seconds: int, connections: int = 16, threads: int = 2
) -> LoadResult:
    """Run wrk against `paths` (round robin) and return its figures; non-2xx answers count as errors."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        quoted = ", ".join(f'"{path}"' for path in paths)
        script.write(
            f"paths = {{{quoted}}}\n"
            "counter = 0\n"
            "request = function()\n"
            "  counter = counter + 1\n"
            '  return wrk.format("GET", paths[(counter % #paths) + 1])\n'
            "end\n"
        )
    try:
        output = subprocess.run(
            [
                ensure_wrk(),
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "--timeout",
                "10s",
                "-H",
                f"Authorization: Token {token}",
                "-s",
                script.name,
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return LoadResult(rps, p50, p99, total, errors)


def cpu_per_request(stack: CacheStack, run: Callable[[], LoadResult]) -> tuple[LoadResult, dict[str, float]]:
    """Run a load and return it with the CPU milliseconds per request spent by each process
    (servers and Redis from /proc, the load tool from this process's reaped children)."""
    before = cpu_seconds_of(stack.pids)
    tool_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = run()
    tool_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = cpu_seconds_of(stack.pids)
    per_request = {
        name: round((after[name] - before[name]) * 1000 / max(load.requests, 1), 3) for name in stack.pids
    }
    tool = (tool_after.ru_utime + tool_after.ru_stime) - (tool_before.ru_utime + tool_before.ru_stime)
    per_request["load_tool"] = round(tool * 1000 / max(load.requests, 1), 3)
    per_request["total"] = round(sum(per_request.values()), 3)
    return load, per_request
