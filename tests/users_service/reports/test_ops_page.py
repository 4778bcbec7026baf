"""`/ops/`: the pipeline's last hour from the users database, queue and DLQ depths from SQS, the
monolith's outbox backlog through its `/health/`, the workers, the caches; unknown where a part is
down; staff only; nothing loaded from another host."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from devstack.processes import free_port, wait_until
from events import types
from events.aws import client
from events.topology import TopologyNames, ensure_topology
from shared_settings.prometheus import sweep_dead_processes
from tests.api_docs import foreign_references
from tests.broker import StalledBroker, start_events_worker
from tests.users_service.events import new_user_id, user_state_event
from users_service import cache_keys
from users_service.bridge.stats_export import StatsExporter, bridge_stats
from users_service.directory.services import apply_user_event
from users_service.ops import metrics
from users_service.reports import dashboard

pytestmark = pytest.mark.django_db

TASK = "directory.apply_user_event"


def _occurred(event: dict, seconds_ago: float) -> dict:
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return event | {"occurred_at": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


class _Monolith(ThreadingHTTPServer):
    """Answers `/health/` with the status and body a test sets."""

    body: dict = {}
    status: int = 200


def monolith_health(pending: int, oldest: float, parked: int) -> dict:
    """A body as the monolith's `/health/` gives it (hr_monolith/health.py)."""
    figures = {
        "outbox_backlog": pending,
        "outbox_oldest_pending_age_seconds": oldest,
        "outbox_parked_rows": parked,
    }
    return {"status": "ok", "checks": {"database": "ok", "outbox": "ok"}, "failing": [], "figures": figures}


@pytest.fixture
def monolith(settings) -> Iterator[_Monolith]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps(self.server.body).encode()
            self.send_response(self.server.status if self.path == "/health/" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = _Monolith(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.MONOLITH_URL = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("operator", is_staff=True))
    return client


@pytest.fixture
def no_monolith(settings) -> None:
    settings.MONOLITH_URL = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def no_sqs(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")


def test_throughput_counts_inbox_rows_per_minute_and_the_lag_of_each_users_newest_event():
    first, second = new_user_id(), new_user_id()
    apply_user_event(envelope=_occurred(user_state_event(first, 1, types.USER_CREATED), 4.0), task_name=TASK)
    apply_user_event(envelope=_occurred(user_state_event(second, 2, types.USER_CREATED), 2.0), task_name=TASK)
    # Older than what is applied: stale, counted, no lag of its own.
    apply_user_event(envelope=user_state_event(second, 1, types.USER_CREATED), task_name=TASK)

    result = dashboard.throughput(minutes=60)

    assert len(result.minutes) == 60
    assert (result.applied, result.stale) == (2, 1)
    assert result.minutes[-1].applied + result.minutes[-2].applied == 2
    assert 4.0 <= result.lag_max < 60
    assert 2.0 <= result.lag_median <= result.lag_max
    assert sum(len(minute.lags) for minute in result.minutes) == 2


def test_throughput_leaves_out_events_older_than_the_window():
    user = new_user_id()
    apply_user_event(envelope=user_state_event(user, 1, types.USER_CREATED), task_name=TASK)
    later = datetime.now(UTC) + timedelta(hours=2)
    result = dashboard.throughput(minutes=60, now=later)
    assert (result.applied, result.lag_max) == (0, None)


def test_outbox_backlog_is_read_from_the_monolith_health(monolith):
    monolith.body = monolith_health(12, 3.5, 1)
    assert dashboard.outbox_backlog() == dashboard.OutboxBacklog(
        pending=12, oldest_pending_seconds=3.5, failed=1
    )


def test_outbox_backlog_is_shown_when_the_monolith_is_unhealthy_for_it(monolith):
    monolith.status, monolith.body = 503, monolith_health(5000, 900.0, 0)
    assert dashboard.outbox_backlog().pending == 5000


def test_outbox_backlog_is_unknown_when_the_monolith_is_down_or_says_nothing(monolith, settings):
    monolith.body = {"status": "ok"}
    assert dashboard.outbox_backlog().pending is None
    assert "no outbox" in dashboard.outbox_backlog().error
    settings.MONOLITH_URL = f"http://127.0.0.1:{free_port()}"
    down = dashboard.outbox_backlog()
    assert down.pending is None
    assert "unreachable" in down.error


def test_sqs_depths_count_the_queue_and_the_dlq(aws):
    topology = ensure_topology(client("sns", aws), client("sqs", aws), TopologyNames())
    sqs = client("sqs", aws)
    for _ in range(3):
        sqs.send_message(QueueUrl=topology.queue_url, MessageBody="{}")
    sqs.send_message(QueueUrl=topology.dlq_url, MessageBody="{}")
    assert dashboard.sqs_depths() == dashboard.QueueDepths(waiting=3, in_flight=0, dead_letters=1)


def test_worker_status_says_which_roles_have_no_worker_and_keeps_the_answer(
    redis_url, settings, point_celery
):
    settings.CELERY_BROKER_URL = redis_url
    point_celery(redis_url)
    cache.delete(cache_keys.ops_worker_status())
    status = dashboard.worker_status()
    assert status.error == ""
    assert status.roles_down == ["events", "cache", "reports"]
    # A second look within the TTL reuses the answer (the same checked_at) instead of pinging again.
    assert dashboard.worker_status().checked_at == status.checked_at


def test_pipeline_metrics_gives_the_hit_ratio_per_cache():
    # Counters add up over the run's multiprocess directory: the ratio is checked against the totals.
    metrics.CACHE_HITS.labels(cache="resources").inc(3)
    metrics.CACHE_MISSES.labels(cache="resources").inc(1)
    sweep_dead_processes()  # a bridge another test started is gone: its age no longer counts
    stats = bridge_stats()
    stats.oldest_message_age_seconds = 2.5
    StatsExporter(stats, loops=1).export()
    summary = metrics.cache_summary()["resources"]
    result = dashboard.pipeline_metrics()
    hits, misses = summary["hits"], summary["misses"]
    assert hits >= 3
    assert misses >= 1
    assert result.caches["resources"]["hit_ratio"] == round(hits / (hits + misses), 4)
    assert result.bridge_oldest_message_seconds == 2.5


def test_ops_page_is_for_staff_only(db):
    anonymous = Client()
    assert anonymous.get("/ops/").status_code == 302
    reader = Client()
    reader.force_login(get_user_model().objects.create_user("reader"))
    assert reader.get("/ops/").status_code == 302


def test_ops_page_shows_each_part_and_links_the_dlq_admin(staff_client, aws, monolith):
    metrics.CACHE_HITS.labels(cache="catalogue").inc(9)
    metrics.CACHE_MISSES.labels(cache="catalogue").inc(1)
    # Counters add up over the run's multiprocess directory: the page shows the totals' ratio.
    catalogue = metrics.cache_summary()["catalogue"]
    percent = round(100 * catalogue["hits"] / (catalogue["hits"] + catalogue["misses"]))
    topology = ensure_topology(client("sns", aws), client("sqs", aws), TopologyNames())
    client("sqs", aws).send_message(QueueUrl=topology.dlq_url, MessageBody="{}")
    monolith.body = monolith_health(7, 1.0, 0)
    apply_user_event(envelope=user_state_event(new_user_id(), 1, types.USER_CREATED), task_name=TASK)
    cache.set(
        cache_keys.ops_worker_status(),
        {
            "nodes": {"events": ["events@host"], "cache": ["cache@host"], "reports": []},
            "checked_at": datetime.now(UTC).isoformat(),
            "error": "",
        },
        60,
    )

    response = staff_client.get("/ops/")

    assert response.status_code == 200
    page = response.content.decode()

    def card(name: str) -> str:
        start = page.index(f'id="card-{name}"')
        return page[start : page.index('<div class="card"', start + 1)] if name != "failed" else page[start:]

    assert '<div class="value bad">1</div>' in card("dlq")
    assert 'href="/admin/bridge/deadletter/"' in card("dlq")
    assert '<div class="value warn">7</div>' in card("outbox")
    assert "1 down" in card("workers")
    assert "no worker for: reports" in card("workers")
    assert f"catalogue</strong>: {percent} %" in card("cache")
    assert "1 applied" in card("throughput")
    assert page.count("<svg") >= 2  # the throughput and lag charts, even before any report
    assert "(daily)" in page
    assert "(hourly)" in page
    assert "dayly" not in page
    assert foreign_references(page) == []


def test_ops_page_renders_with_every_part_down(staff_client, no_sqs, no_monolith, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    cache.set(
        cache_keys.ops_worker_status(),
        {"nodes": {}, "checked_at": datetime.now(UTC).isoformat(), "error": "OperationalError: refused"},
        60,
    )
    response = staff_client.get("/ops/")
    assert response.status_code == 200
    page = response.content.decode()
    # The cache card reads this process's metrics files, which no outage takes away.
    for name in ("queue", "dlq", "outbox", "workers"):
        start = page.index(f'id="card-{name}"')
        assert "unknown" in page[start : page.index("</div>\n    </div>", start)], name


def test_worker_status_gives_up_on_a_broker_that_stops_answering(redis_url, settings, point_celery):
    broker = StalledBroker()
    settings.CELERY_BROKER_URL = broker.url
    point_celery(broker.url)
    outcome: list[dashboard.WorkerStatus] = []
    asking = threading.Thread(target=lambda: outcome.append(dashboard._ping_workers()), daemon=True)
    try:
        asking.start()
        # The page's calls each give up after CALL_TIMEOUT (1 s); 30 s is only there to end the test.
        asking.join(timeout=30)
        assert not asking.is_alive(), "the ops page's worker ping hung on a stalled broker"
        assert outcome[0].error, outcome
        assert outcome[0].roles_down == ["events", "cache", "reports"]
    finally:
        broker.close()


def test_worker_status_names_a_running_worker_by_its_role(
    worker_env, redis_url, settings, point_celery, tmp_path
):
    # The page's own connection (with its socket timeout) still hears a real worker's answer. The
    # app is pointed at this test's broker as a whole, as the page's settings are.
    settings.CELERY_BROKER_URL = redis_url
    point_celery(redis_url)
    worker = start_events_worker("events-worker", worker_env, tmp_path)
    answers: list[dashboard.WorkerStatus] = []
    try:
        # "ready." comes a moment before the worker listens to broadcasts, and a busy machine may
        # delay its reply past one ping's second: ask again until it answers.
        wait_until(
            lambda: answers.append(dashboard._ping_workers()) or answers[-1].nodes.get("events"),
            timeout=60,
            what="the events worker's answer to the page's ping",
        )
    finally:
        worker.stop()
    status = answers[-1]
    assert status.error == ""
    assert [node.split("@")[0] for node in status.nodes["events"]] == ["events"]
    assert status.roles_down == ["cache", "reports"]
