"""DRF throttles for the users service: one Redis round trip per request, fail open when the cache is down.

DRF's `SimpleRateThrottle` keeps each client's request history as a pickled list in the cache:
two round trips per request (get, then set), a pickle of up to `rate` floats each way, and a
read-modify-write that loses counts when requests of one client run concurrently. These
throttles count in a fixed window instead (one `INCR` per request; the window's first request
sets its counter's expiry): exact under concurrency, constant cost; a client may burst up to
twice its rate across a window boundary.
A dead cache must not turn every API call into a 500, so a cache error is logged and counted
and the request is allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.core.cache import cache
from django_redis import get_redis_connection
from django_redis.exceptions import ConnectionInterrupted
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from users_service import cache_keys
from users_service.ops import metrics

log = logging.getLogger(__name__)
CACHE_ERRORS = (ConnectionInterrupted, redis.RedisError, OSError)


#: Where a request carries the throttle counts taken before DRF saw it: {counter key: count}.
PRECOUNTED = "users_service.throttle_counts"


def precounted(request) -> dict[str, int]:
    return request.META.get(PRECOUNTED, {})


def counter_key(key: str, make_key: Callable[[str], str] | None = None) -> str:
    """The Redis key of the window counter `key`: an `INCR` of it counts one request, its result the
    window's count so far; `start_window` must follow for a count of 1. `make_key`: the cache's
    own, when the caller holds it already."""
    return (make_key or cache.make_key)(key)


def start_window(client, key: str, window_seconds: int, count: int) -> None:
    """Set the expiry of `key`'s counter when `count` is its first request.

    Once per window and client rather than an `EXPIRE` beside every `INCR` (a tenth of a cache
    hit's Redis work, bench/_profile_cache_hit.py). A counter whose `EXPIRE` never arrives (the
    process died in between) stays until the cache's LRU eviction takes it (allkeys-lru); it is
    never read again, since each window has its own key.
    """
    if count == 1:
        # The counter outlives its window by a second at most.
        client.expire(counter_key(key), window_seconds + 1)


def requests_in_window(key: str, window_seconds: int) -> int:
    """Count one request under `key` (a window's counter) and return the window's count so far."""
    client = get_redis_connection("default")
    count = int(client.incr(counter_key(key)))
    start_window(client, key, window_seconds, count)
    return count


class FixedWindowFailOpen:
    scope: str
    rate: str | None
    duration: int
    num_requests: int
    _window_ends: float = 0.0

    def get_rate(self) -> str | None:
        # DRF binds THROTTLE_RATES at import; read the current settings instead.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def window_counter(self, request, view) -> tuple[str, int] | None:
        """(counter key, window seconds) this request counts under now, or None if it is not throttled."""
        if self.rate is None:
            return None
        ident_key = self.get_cache_key(request, view)
        if ident_key is None:
            return None
        window = int(self.timer() // self.duration)
        self._window_ends = (window + 1) * self.duration
        return cache_keys.throttle(ident_key, window), self.duration

    def allow_request(self, request, view) -> bool:
        counter = self.window_counter(request, view)
        if counter is None:
            return True
        key, window_seconds = counter
        # Counted already in the same round trip as the cache read (users_service/cache_hits.py).
        count = precounted(request).get(key)
        if count is None:
            try:
                count = requests_in_window(key, window_seconds)
            except CACHE_ERRORS as exc:
                log.warning("throttle %s skipped, cache unavailable: %s", self.scope, exc)
                metrics.THROTTLE_CACHE_ERRORS.labels(scope=self.scope).inc()
                return True
        return self.allows(count)

    def allows(self, count: int) -> bool:
        """Whether the `count`-th request of its window is let through."""
        return count <= self.num_requests

    def wait(self) -> float:
        return max(0.0, self._window_ends - self.timer())


class UserThrottle(FixedWindowFailOpen, UserRateThrottle):
    pass


class AnonThrottle(FixedWindowFailOpen, AnonRateThrottle):
    pass
