"""Read-through caching with single-flight fills, shared by the catalogue and resources caches.

`read_through` answers from the cache, or fills it from the upstream with at most one
upstream call per key at a time (a Redis lock; the others poll briefly for the value).
When the cache Redis fails it falls through to the upstream; an upstream failure is
raised as an `UpstreamError` for the API to answer 503. Every outcome is counted
in `users_service.ops.metrics` under the cache's name.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import msgpack
import redis
from django.conf import settings
from django.core.cache import cache
from django_redis.exceptions import ConnectionInterrupted
from prometheus_client import Counter

from events.errors import TransientError
from users_service import cache_keys
from users_service.ops import metrics
from users_service.upstream import UpstreamError, UpstreamNotFound

log = logging.getLogger(__name__)

#: What the cache Redis raises when it is down, slow (socket timeout) or refuses a command.
CACHE_ERRORS = (ConnectionInterrupted, redis.RedisError, ConnectionError, TimeoutError)

#: What reading a value that is not msgpack raises (a pickle written by someone who can write to
#: the cache Redis, say): the cache's serializer is msgpack, never pickle (settings CACHES).
UNDECODABLE = (msgpack.UnpackException, ValueError, TypeError)

HIT: Literal["hit"] = "hit"
MISS: Literal["miss"] = "miss"


@dataclass(frozen=True)
class CachePolicy:
    """One cache: its name in metrics and its time to live."""

    name: str
    ttl_seconds: float

    def ttl_with_jitter(self) -> int:
        # Spread expiries so that entries filled together do not all miss together.
        jitter = random.uniform(0, settings.CACHE_TTL_JITTER)  # noqa: S311 - spreads expiries, not a secret
        return max(1, round(self.ttl_seconds * (1 + jitter)))


@dataclass(frozen=True)
class Lookup:
    value: bytes
    cache_status: Literal["hit", "miss"]

    def json(self) -> Any:
        """The value decoded, for callers whose `fetch` returns a JSON body (bytes)."""
        return json.loads(self.value)


class InvalidationFailed(TransientError):
    """The cache could not drop a key: the entry may stay stale until its TTL (a retry may succeed)."""


#: Until when (time.monotonic()) this process skips the cache after an error: a cache that
#: times out would otherwise add CACHE_SOCKET_TIMEOUT to every request while it is down.
_bypass_until = 0.0


def cache_bypassed() -> bool:
    """Whether this process skips the cache now (after a recent cache error)."""
    return time.monotonic() < _bypass_until


def cache_bypass_reset() -> None:
    """Use the cache again from the next request (tests, or an operator's shell)."""
    global _bypass_until
    _bypass_until = 0.0


def _count(counter: Counter, policy: CachePolicy, **labels: str) -> None:
    counter.labels(cache=policy.name, **labels).inc()


def _cache_error(policy: CachePolicy, op: str, exc: BaseException) -> None:
    global _bypass_until
    _bypass_until = time.monotonic() + settings.CACHE_BYPASS_SECONDS
    log.warning(
        "cache %s: %s failed, answering from the upstream (cache skipped for %ss): %s",
        policy.name,
        op,
        settings.CACHE_BYPASS_SECONDS,
        exc,
    )
    _count(metrics.CACHE_ERRORS, policy, op=op)


#: Stands for a cached value that could not be decoded.
_UNDECODED = object()


def _cached_body(policy: CachePolicy, key: str, *, first_look: bool = True) -> bytes | None:
    """The body cached under `key`, or None. A value that is not a body (not msgpack, or not bytes)
    reads as a miss, counted at the request's first look: the fill overwrites it. Cache errors
    propagate."""
    try:
        value = cache.get(key)
    except UNDECODABLE:
        value = _UNDECODED
    if value is None or isinstance(value, bytes):
        return value
    if first_look:
        log.warning(
            "cache %s: %s holds something that is not a cached body, read as a miss", policy.name, key
        )
        _count(metrics.CACHE_UNDECODABLE, policy)
    return None


def _fetch(policy: CachePolicy, fetch: Callable[[], Any]) -> Any:
    _count(metrics.UPSTREAM_REQUESTS, policy)
    try:
        return fetch()
    except UpstreamNotFound:
        _count(metrics.UPSTREAM_NOT_FOUND, policy)
        raise
    except UpstreamError as exc:
        log.warning("cache %s: upstream failed: %s", policy.name, exc)
        _count(metrics.UPSTREAM_ERRORS, policy)
        raise


def _fall_through(policy: CachePolicy, fetch: Callable[[], Any]) -> Lookup:
    _count(metrics.CACHE_FALLTHROUGH, policy)
    return Lookup(_fetch(policy, fetch), MISS)


def _fetch_and_store(policy: CachePolicy, key: str, fetch: Callable[[], Any]) -> Any:
    """Fetch and store, unless an invalidation of `key` happened meanwhile (then the value may be stale)."""
    try:
        generation_before = cache.get(cache_keys.generation(key))
    except CACHE_ERRORS as exc:
        _cache_error(policy, "generation", exc)
        return _fetch(policy, fetch)
    value = _fetch(policy, fetch)
    try:
        if cache.get(cache_keys.generation(key)) != generation_before:
            _count(metrics.CACHE_FILL_DISCARDED, policy)
            return value
        cache.set(key, value, timeout=policy.ttl_with_jitter())
    except CACHE_ERRORS as exc:
        _cache_error(policy, "set", exc)
    return value


def _release(policy: CachePolicy, lock: Any) -> None:
    try:
        lock.release()
    except CACHE_ERRORS as exc:
        # The lock expires by itself (CACHE_FILL_LOCK_SECONDS); waiters then fill again.
        _cache_error(policy, "unlock", exc)


def _fill_single_flight(policy: CachePolicy, key: str, fetch: Callable[[], Any]) -> Lookup:
    lock = cache.lock(cache_keys.fill_lock(key), timeout=settings.CACHE_FILL_LOCK_SECONDS, thread_local=False)
    deadline = time.monotonic() + settings.CACHE_FILL_WAIT_SECONDS
    while True:
        try:
            acquired = lock.acquire(blocking=False)
            # Acquired: another filler may have stored the value just before releasing.
            value = _cached_body(policy, key, first_look=False)
        except CACHE_ERRORS as exc:
            _cache_error(policy, "lock", exc)
            return _fall_through(policy, fetch)
        if value is not None:
            if acquired:
                _release(policy, lock)
            _count(metrics.CACHE_COALESCED, policy)
            return Lookup(value, HIT)
        if acquired:
            try:
                return Lookup(_fetch_and_store(policy, key, fetch), MISS)
            finally:
                _release(policy, lock)
        if time.monotonic() >= deadline:
            # The filler is slow or died holding the lock: answer this request ourselves.
            _count(metrics.CACHE_FILL_WAIT_TIMEOUTS, policy)
            return Lookup(_fetch(policy, fetch), MISS)
        time.sleep(settings.CACHE_FILL_POLL_SECONDS)


def read_through(*, policy: CachePolicy, key: str, fetch: Callable[[], bytes]) -> Lookup:
    """The cached body of `key`, or `fetch()`'s (stored with the policy's TTL plus jitter).

    Raises `UpstreamError` (e.g. `UpstreamNotFound`) from `fetch` when the value had to come
    from the upstream; a cache failure never raises.
    """
    if cache_bypassed():
        _count(metrics.CACHE_BYPASSED, policy)
        return _fall_through(policy, fetch)
    try:
        value = _cached_body(policy, key)
    except CACHE_ERRORS as exc:
        _cache_error(policy, "get", exc)
        return _fall_through(policy, fetch)
    if value is not None:
        # The hot path: a hit adds to this process's mmap file (no round trip; bench/cache_resources).
        metrics.CACHE_HITS.labels(cache=policy.name).inc()
        return Lookup(value, HIT)
    _count(metrics.CACHE_MISSES, policy)
    if not settings.CACHE_STAMPEDE_CONTROL:
        return Lookup(_fetch_and_store(policy, key, fetch), MISS)
    return _fill_single_flight(policy, key, fetch)


def invalidate(*, policy: CachePolicy, key: str) -> None:
    """Drop `key`; raise `InvalidationFailed` (logged and counted) if the cache did not take it."""
    try:
        # New generation first: a fill already in flight will see it and not store its old value.
        cache.set(cache_keys.generation(key), uuid.uuid4().hex, timeout=settings.CACHE_GENERATION_SECONDS)
        cache.delete(key)
    except CACHE_ERRORS as exc:
        log.error("cache %s: invalidation of %s failed (stale until its TTL): %s", policy.name, key, exc)
        _count(metrics.CACHE_INVALIDATION_FAILURES, policy)
        raise InvalidationFailed(f"{policy.name}: {key}: {exc}") from exc
    _count(metrics.CACHE_INVALIDATIONS, policy)
