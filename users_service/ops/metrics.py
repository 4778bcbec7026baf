"""Counters and gauges shared by every process of the users service (bridge, workers, web).

Stored in Redis (`METRICS_REDIS_URL`, by default the broker's Redis, which never
evicts) so that `/metrics`, `/health/` and `/ops/` in the web process see what the
bridge and the workers counted. The one place that names a metric's storage.

    metrics.incr("cache_hits_total", labels={"cache": "resources"})
    metrics.publish_gauges("bridge", {"oldest_message_age_seconds": 1.2})
    metrics.snapshot()  # {"cache_hits_total{cache=\"resources\"}": 10.0, ...}

Counting never breaks the caller: a Redis error is logged and the count is lost.

`incr_buffered` is for per-request hot paths (cache hits): it adds to a counter in this
process, and a background thread adds the sums to Redis every `METRICS_FLUSH_SECONDS` (one
pipelined round trip per flush, not one per request). `snapshot()` flushes this process's
sums first; other processes' sums show up within `METRICS_FLUSH_SECONDS`.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache

import redis
from django.conf import settings

log = logging.getLogger(__name__)

COUNTERS_KEY = "metrics:counters"
GAUGES_KEY_PREFIX = "metrics:gauges:"
#: A process that stops publishing its gauges drops out of `snapshot()` after this long.
GAUGE_TTL_SECONDS = 120


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)


def client() -> redis.Redis:
    return _client(settings.METRICS_REDIS_URL)


def series(name: str, labels: Mapping[str, str] | None = None) -> str:
    """Prometheus-style series name: `name{a="x",b="y"}`."""
    if not labels:
        return name
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def incr(name: str, amount: float = 1, *, labels: Mapping[str, str] | None = None) -> None:
    try:
        client().hincrbyfloat(COUNTERS_KEY, series(name, labels), amount)
    except (redis.RedisError, OSError) as exc:
        log.warning("metric %s not counted: %s", name, exc)


def incr_many(amounts: Mapping[str, float]) -> None:
    """Add several counters (keys already built with `series`) in one round trip."""
    if not amounts:
        return
    try:
        pipe = client().pipeline(transaction=False)
        for key, amount in amounts.items():
            pipe.hincrbyfloat(COUNTERS_KEY, key, amount)
        pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("%d metrics not counted: %s", len(amounts), exc)


_pending: Counter[str] = Counter()
_pending_lock = threading.Lock()
#: The pid whose flusher thread runs: a forked child (gunicorn worker) starts its own.
_flusher_pid: int | None = None


def incr_buffered(name: str, amount: float = 1, *, labels: Mapping[str, str] | None = None) -> None:
    """Like `incr`, but summed in this process and sent with the next flush (see the module doc)."""
    if settings.METRICS_FLUSH_SECONDS <= 0:
        incr(name, amount, labels=labels)
        return
    key = series(name, labels)
    with _pending_lock:
        _pending[key] += amount
    if _flusher_pid != os.getpid():
        _start_flusher()


def flush() -> None:
    """Send this process's buffered sums to Redis now (lost, and logged, if Redis fails)."""
    with _pending_lock:
        amounts = dict(_pending)
        _pending.clear()
    incr_many(amounts)


def discard_pending() -> None:
    """Forget this process's unsent sums (tests switching metrics stores)."""
    with _pending_lock:
        _pending.clear()


#: Never set while the process runs: the flusher's sleep, and a way to stop it in a test.
_flusher_stop = threading.Event()


def _flush_every(interval: float) -> None:
    while not _flusher_stop.wait(interval):
        flush()


def _start_flusher() -> None:
    global _flusher_pid
    with _pending_lock:
        if _flusher_pid == os.getpid():
            return
        _flusher_pid = os.getpid()
    # A daemon thread: an idle process still sends what it counted; atexit sends the rest.
    threading.Thread(
        target=_flush_every, args=(settings.METRICS_FLUSH_SECONDS,), name="metrics-flush", daemon=True
    ).start()


atexit.register(flush)


def publish_gauges(source: str, values: Mapping[str, float]) -> None:
    """Current values from one process (replaced at each call, expire if it dies)."""
    key = f"{GAUGES_KEY_PREFIX}{source}:{socket.gethostname()}:{os.getpid()}"
    try:
        pipe = client().pipeline(transaction=False)
        pipe.delete(key)
        if values:
            pipe.hset(key, mapping={k: float(v) for k, v in values.items()})
        pipe.expire(key, GAUGE_TTL_SECONDS)
        pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("gauges of %s not published: %s", source, exc)


def snapshot() -> dict[str, float]:
    """Every counter, plus every live process's gauges (labelled with `source`). Raises on Redis errors."""
    flush()
    redis_client = client()
    values = {k.decode(): float(v) for k, v in redis_client.hgetall(COUNTERS_KEY).items()}
    for key in redis_client.scan_iter(f"{GAUGES_KEY_PREFIX}*", count=100):
        source = key.decode()[len(GAUGES_KEY_PREFIX) :]
        for name, value in redis_client.hgetall(key).items():
            values[series(name.decode(), {"source": source})] = float(value)
    return values


#: The counters `cache_summary` reads, labelled with `cache` by users_service/read_through.py.
CACHE_COUNTERS = ("cache_hits_total", "cache_misses_total", "cache_errors_total", "cache_fallthrough_total")


def cache_summary(values: Mapping[str, float] | None = None) -> dict[str, dict[str, float]]:
    """Per cache: hits, misses, errors, fall-throughs and the hit ratio (for /health/ and /ops/).

    Takes a `snapshot()` if given one; raises on Redis errors like `snapshot()`.
    """
    values = snapshot() if values is None else values
    caches: dict[str, dict[str, float]] = {}
    for key, value in values.items():
        name, _, labels = key.partition("{")
        if name not in CACHE_COUNTERS or 'cache="' not in labels:
            continue
        cache = labels.split('cache="', 1)[1].split('"', 1)[0]
        short = name.removeprefix("cache_").removesuffix("_total")
        entry = caches.setdefault(cache, dict.fromkeys(("hits", "misses", "errors", "fallthrough"), 0.0))
        entry[short] += value
    for entry in caches.values():
        looked_up = entry["hits"] + entry["misses"]
        entry["hit_ratio"] = round(entry["hits"] / looked_up, 4) if looked_up else 0.0
    return caches
