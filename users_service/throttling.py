"""DRF throttles that read their rate at request time and let requests through when the cache is down.

Throttle counters live in the cache (django-redis): a dead cache must not turn every API
call into a 500, so a cache error is logged and counted and the request is allowed.
"""

from __future__ import annotations

import logging

import redis
from django_redis.exceptions import ConnectionInterrupted
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from users_service.ops import metrics

log = logging.getLogger(__name__)
CACHE_ERRORS = (ConnectionInterrupted, redis.RedisError, OSError)


class _FailOpen:
    scope: str

    def get_rate(self) -> str | None:
        # DRF binds THROTTLE_RATES at import; read the current settings instead.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            log.warning("throttle %s skipped, cache unavailable: %s", self.scope, exc)
            metrics.incr("throttle_cache_errors_total", labels={"scope": self.scope})
            return True


class UserThrottle(_FailOpen, UserRateThrottle):
    pass


class AnonThrottle(_FailOpen, AnonRateThrottle):
    pass
