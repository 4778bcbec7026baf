"""`make run`: the embedded stack (moto server, Redis, SQLite) and every process of both
services (the Procfile), each started again if it exits (devstack/supervisor.py). Ctrl-C stops them all."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import urllib.error
import urllib.request

from devstack.moto import MotoServer, moto_answers
from devstack.processes import ManagedProcess, port_open, wait_until
from devstack.redis import RedisServer, redis_answers
from devstack.service_stack import USERS_SERVICE_ACCOUNT, USERS_SERVICE_PERMISSIONS
from devstack.stack import BASE_DIR, create_topology, ensure_admin, ensure_service_account, manage, stack_env
from devstack.supervisor import Procfile, supervise_until_signalled

MOTO_PORT = 5000
REDIS_PORT = 6379
WEB_PORTS = {"monolith": 8000, "users service": 8001}
FLOWER_PORT = 5555
#: Computed once as the stack comes up, so that `/ops/` shows every report at once. Reconciliation
#: first: it fills the read model from the monolith's API even while the demo's events are in flight.
START_REPORTS = ("reconciliation", "headcount_by_department", "joiners_and_leavers", "pipeline_health")
#: How long the first reports wait for both web servers to answer `/health/`.
START_REPORTS_WAIT = 120
ADMIN_USER = os.environ.get("DEMO_ADMIN_USER", "admin")
ADMIN_PASSWORD = os.environ.get("DEMO_ADMIN_PASSWORD", "admin")


def say(message: str) -> None:
    print(f"devstack: {message}", flush=True)


def main() -> int:
    var = BASE_DIR / "var"
    logs = var / "log"
    owned: list[ManagedProcess] = []
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        for name, port in {**WEB_PORTS, "Flower": FLOWER_PORT}.items():
            if port_open(port):
                say(f"port {port} (the {name}) is already in use: stop what runs there first")
                return 1
        redis_url = f"redis://127.0.0.1:{REDIS_PORT}"
        if redis_answers(f"{redis_url}/0"):
            say(f"using the Redis already running on {REDIS_PORT}")
        else:
            say(f"starting Redis on {REDIS_PORT}")
            owned.append(RedisServer(REDIS_PORT, var / "redis", allow_system_install=True).start())
        if moto_answers(MOTO_PORT):
            say(f"using the moto server already running on {MOTO_PORT}")
        elif port_open(MOTO_PORT):
            say(f"port {MOTO_PORT} is taken by something that is not a moto server")
            return 1
        else:
            say(f"starting the moto server (SNS/SQS) on {MOTO_PORT}")
            owned.append(MotoServer(MOTO_PORT, logs).start())

        # Development mode and the kept secret keys (devstack/development.py) come with stack_env.
        env = stack_env(aws_endpoint=f"http://127.0.0.1:{MOTO_PORT}", redis_url=redis_url)
        # Readable lines in a terminal; every process logs JSON lines unless told otherwise.
        env.setdefault("LOG_FORMAT", "console")
        topology = create_topology(env)
        say(f"topic {topology.topic_arn} -> queue {topology.queue_url} (DLQ {topology.dlq_url})")
        for service in ("hr", "users"):
            say(f"migrating {service}")
            manage(service, "migrate", "--noinput", env=env)
        manage("users", "setup_periodic_tasks", env=env)
        hr_token = ensure_admin("hr", username=ADMIN_USER, password=ADMIN_PASSWORD, env=env)
        users_token = ensure_admin("users", username=ADMIN_USER, password=ADMIN_PASSWORD, env=env)
        # The users service calls the monolith's API with a token of its own.
        # It may read an event's outbox times (`manage.py users trace`), never the payload.
        service_token = ensure_service_account(
            "hr", username=USERS_SERVICE_ACCOUNT, env=env, permissions=USERS_SERVICE_PERMISSIONS
        )
        env.setdefault("MONOLITH_API_TOKEN", service_token)
        # Flower as compose runs it (basic auth required), with the admin login; linked from /ops/.
        env.setdefault("FLOWER_BASIC_AUTH", f"{ADMIN_USER}:{ADMIN_PASSWORD}")
        env.setdefault("FLOWER_URL", f"http://127.0.0.1:{FLOWER_PORT}")
        say("loading demo data")
        manage("hr", "load_demo_data", env=env)
        print_banner(hr_token, users_token)
        # The supervisor's part of Prometheus multiprocess mode: a run starts from empty metrics
        # directories, or a previous run's counters and gauges would show in this one's /metrics.
        shutil.rmtree(var / "prometheus", ignore_errors=True)
        procfile = Procfile(BASE_DIR / "Procfile", env=env)
        stopping: list[bool] = []
        threading.Thread(
            target=run_start_reports, args=(env, stopping), name="start-reports", daemon=True
        ).start()
        supervise_until_signalled(procfile.supervisor(say=say), on_stop=lambda: stopping.append(True))
        return 0
    finally:
        for process in reversed(owned):
            process.stop()


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def run_start_reports(env: dict, stopping: list[bool]) -> None:
    """Once both web servers answer, compute each report for its current period (again, if it ran)."""
    try:
        wait_until(
            lambda: bool(stopping) or all(_healthy(port) for port in WEB_PORTS.values()),
            timeout=START_REPORTS_WAIT,
            what="the web servers",
            interval=1,
        )
    except TimeoutError as exc:
        say(f"reports not computed at start: {exc}")
        return
    for name in START_REPORTS:
        if stopping:
            return
        try:
            manage("users", "run_report", name, "--force", "--no-progress", env=env)
            say(f"report {name} computed (http://127.0.0.1:{WEB_PORTS['users service']}/ops/)")
        except RuntimeError as exc:
            say(f"report {name} not computed: {str(exc).splitlines()[-1]}")


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def print_banner(hr_token: str, users_token: str) -> None:
    print(
        f"""
=====================================================================
 HR monolith     http://127.0.0.1:8000/api/users/   admin: http://127.0.0.1:8000/admin/
 users service   http://127.0.0.1:8001/api/users/   admin: http://127.0.0.1:8001/admin/
 API docs        http://127.0.0.1:8000/api/docs/    http://127.0.0.1:8001/api/docs/
 operations      http://127.0.0.1:8001/ops/         Flower: http://127.0.0.1:{FLOWER_PORT}/
 admin login     {ADMIN_USER} / {ADMIN_PASSWORD}   (both services)
 API token       monolith:      {hr_token}
                 users service: {users_token}
 try it:
   curl -H "Authorization: Token {hr_token}" -H "Content-Type: application/json" \\
        -d '{{"email":"new@example.com","first_name":"New","last_name":"Person","department":"ENG"}}' \\
        http://127.0.0.1:8000/api/users/
   curl -H "Authorization: Token {users_token}" http://127.0.0.1:8001/api/users/<id>/
 development mode (DJANGO_DEBUG=true); secret keys kept in var/secrets/ (sessions survive a restart)
 Ctrl-C stops everything. Logs of Redis/moto started here: var/log/
=====================================================================
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
