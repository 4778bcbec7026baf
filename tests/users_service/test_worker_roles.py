"""The queue roles are declared once (users_service/queues.py) and everything else follows from them:
Celery's queues and routes, the bridge's routing table, the worker command, the Procfile and compose."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command

from users_service import queues
from users_service.celery import app
from users_service.routing import ROUTES

ROOT = Path(__file__).resolve().parents[2]


def test_celery_queues_and_routes_are_the_declared_roles():
    assert [queue.name for queue in settings.CELERY_TASK_QUEUES] == list(queues.ROLES)
    assert queues.DEFAULT.queue == settings.CELERY_TASK_DEFAULT_QUEUE
    app.loader.import_default_modules()
    for name in app.tasks:
        expected = queues.role_of_task(name).queue
        assert app.amqp.router.route({}, name)["queue"].name == expected, name


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("directory.apply_user_event", "events"),
        ("resources.warm", "cache"),
        ("resources.invalidate", "cache"),
        ("catalogue.invalidate", "cache"),
        ("reports.run_report", "reports"),
        ("reports.cleanup_report_runs", "reports"),
        ("celery.backend_cleanup", "reports"),
    ],
)
def test_each_task_has_the_queue_of_its_work(task, queue):
    assert queues.role_of_task(task).queue == queue


def test_the_bridge_publishes_each_task_to_its_roles_queue():
    app.loader.import_default_modules()
    for routes in ROUTES.values():
        for route in routes:
            assert route.task in app.tasks
            assert route.queue == queues.role_of_task(route.task).queue


def test_each_role_keeps_its_unacked_tasks_under_keys_of_its_own():
    keys = [
        (options["unacked_key"], options["unacked_index_key"], options["unacked_mutex_key"])
        for options in (role.transport_options() for role in queues.ROLES.values())
    ]
    flat = [key for triple in keys for key in triple]
    assert len(set(flat)) == len(flat)
    assert "unacked" not in flat  # kombu's default: a worker without a role restores those


def test_a_worker_without_a_role_waits_long_enough_for_every_roles_tasks():
    longest = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert longest == settings.CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS["visibility_timeout"]
    assert all(role.visibility_timeout <= longest for role in queues.ROLES.values())


@pytest.mark.parametrize("role", queues.ROLES.values(), ids=lambda role: role.queue)
def test_a_task_waiting_its_longest_backoff_is_still_acked_within_the_visibility_timeout(role):
    assert role.retry_backoff_cap + role.time_limit <= role.visibility_timeout


def test_a_role_that_would_get_its_tasks_redelivered_while_they_wait_is_refused():
    with pytest.raises(ValueError, match="visibility timeout"):
        dataclasses.replace(queues.EVENTS, retry_backoff_cap=queues.EVENTS.visibility_timeout)


def test_time_limits_on_the_threads_pool_are_refused_as_they_would_be_ignored():
    with pytest.raises(ValueError, match="threads pool ignores time limits"):
        dataclasses.replace(queues.CACHE, soft_time_limit=10)


def test_the_threads_roles_tasks_keep_within_its_time_limit_by_their_own_timeouts():
    # A warm: one monolith call (connect + read timeouts) after waiting for another's fill.
    longest_warm = (
        settings.MONOLITH_CONNECT_TIMEOUT + settings.MONOLITH_READ_TIMEOUT + settings.CACHE_FILL_WAIT_SECONDS
    )
    assert queues.CACHE.pool == "threads"
    assert longest_warm < queues.CACHE.time_limit


def test_prefork_roles_pass_their_time_limits_and_the_threads_role_none():
    assert "--time-limit=30" in queues.EVENTS.worker_arguments()
    assert "--soft-time-limit=240" in queues.REPORTS.worker_arguments()
    assert not [a for a in queues.CACHE.worker_arguments() if "time-limit" in a]


def test_run_worker_prints_the_roles_options():
    out = io.StringIO()
    call_command("run_worker", "cache", "--concurrency", "7", "--print", stdout=out)
    command, options = out.getvalue().splitlines()
    assert command.split() == [
        "celery",
        "-A",
        "users_service",
        "worker",
        "--loglevel=INFO",
        "--queues=cache",
        "--hostname=cache@%h",
        "--pool=threads",
        "--concurrency=7",
        "--prefetch-multiplier=1",
    ]
    transport = json.loads(options)["broker_transport_options"]
    assert transport["visibility_timeout"] == queues.CACHE.visibility_timeout
    assert transport["unacked_key"] == "unacked:cache"


def test_run_worker_refuses_an_unknown_role_naming_the_known_ones():
    with pytest.raises(CommandError, match="events, cache, reports"):
        call_command("run_worker", "emails", "--print")


def test_run_worker_refuses_a_concurrency_below_one():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("run_worker", "events", "--concurrency", "0", "--print")


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_the_procfile_starts_one_worker_per_role_by_its_name_only():
    started = {}
    for name, command in _procfile().items():
        assert "celery -A users_service worker" not in command, name  # only through run_worker
        if match := re.fullmatch(r"python manage\.py users run_worker (\w+)", command):
            started[name] = match[1]
    assert sorted(started.values()) == sorted(queues.ROLES)
    assert all(name == f"users-worker-{role}" for name, role in started.items())


def test_compose_has_one_worker_service_per_role_named_as_in_the_procfile():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    workers = {
        name: service["environment"]["USERS_WORKER_ROLE"]
        for name, service in services.items()
        if service.get("command") == ["docker/users-worker.sh"]
    }
    assert workers == {f"users-worker-{role}": role for role in queues.ROLES}
    assert set(workers) <= set(_procfile())
    script = (ROOT / "docker" / "users-worker.sh").read_text()
    assert 'exec python manage.py users run_worker "${USERS_WORKER_ROLE}"' in script
    for name in workers:
        # The consumer's liveness file (users_service/celery.py), not an `inspect ping` broadcast.
        assert services[name]["healthcheck"]["test"][2:4] == ["docker/healthcheck.py", "alive"], name
