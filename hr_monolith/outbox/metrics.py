"""Every metric of the monolith, declared once with its help text and type.

The relay counts what it publishes and what SNS refuses (prometheus_client multiprocess mode,
shared_settings/prometheus.py: the relay's counts show in the web's `/metrics`); the backlog,
its oldest row and the parked rows are read from the database at each scrape (`OutboxCollector`),
so they are right even while no relay runs.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shared_settings import prometheus

# HTTP latency per view: both services' histogram, observed by the middleware declared with it.
from shared_settings.http_metrics import HTTP_REQUEST_SECONDS

__all__ = [
    "BACKLOG",
    "HTTP_REQUEST_SECONDS",
    "OLDEST_PENDING_AGE",
    "OUTBOX_PARKED",
    "OUTBOX_PUBLISHED",
    "OUTBOX_SNS_ERRORS",
    "PARKED_ROWS",
    "PUBLISH_SECONDS",
    "OutboxCollector",
]

# Fails at import, not at the first scrape, if the settings did not turn multiprocess mode on.
prometheus.multiprocess_dir()

#: Seconds: a healthy relay publishes within milliseconds; an SNS outage holds rows for minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

OUTBOX_PUBLISHED = Counter(
    "outbox_published", "Outbox rows the relay published to SNS, by event type.", ["event_type"]
)
PUBLISH_SECONDS = Histogram(
    "outbox_commit_to_published_seconds",
    "From an outbox row's commit (created_at) to SNS accepting it.",
    buckets=LATENCY_BUCKETS,
)
#: `call`: a whole publish_batch failed (SNS unreachable, throttled); `entry`: SNS refused one entry.
OUTBOX_SNS_ERRORS = Counter("outbox_sns_errors", "SNS publish failures seen by the relay, by kind.", ["kind"])
OUTBOX_PARKED = Counter(
    "outbox_parked", "Outbox rows parked as failed after RELAY_MAX_ATTEMPTS refusals (re-send from admin)."
)

#: Names of the figures read from the database at each scrape.
BACKLOG = "outbox_backlog"
OLDEST_PENDING_AGE = "outbox_oldest_pending_age_seconds"
PARKED_ROWS = "outbox_parked_rows"


class OutboxCollector(Collector):
    """The outbox's state as gauges, read from the database when `/metrics` is scraped."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from hr_monolith.outbox.selectors import outbox_backlog

        backlog = outbox_backlog()
        yield GaugeMetricFamily(BACKLOG, "Outbox rows waiting to be published.", value=backlog.pending)
        yield GaugeMetricFamily(
            OLDEST_PENDING_AGE,
            "Age of the oldest pending outbox row (0 when none waits): how far behind the relay is.",
            value=backlog.oldest_age_seconds or 0.0,
        )
        yield GaugeMetricFamily(
            PARKED_ROWS, "Outbox rows parked as failed, waiting for a re-send.", value=backlog.failed
        )
