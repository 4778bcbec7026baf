"""Celery beat's scheduler for the users service: `DatabaseScheduler` behind a Redis lock.

Only the beat process holding the lock (`REPORTS_BEAT_LOCK_URL`, key `BEAT_LOCK_KEY`)
sends due tasks; it renews the lock at every tick. A second beat logs that it is
standing by and sends nothing; it takes over within `REPORTS_BEAT_LOCK_TTL` seconds
if the first one dies. It is `CELERY_BEAT_SCHEDULER`, the one place naming beat's scheduler.

It does not install beat's default entry (`celery.backend_cleanup`): DatabaseScheduler would
rewrite that row at every start (queue, time zone, and any edit made in admin), while
`setup_periodic_tasks` (`users_service/reports/schedules.py`) owns every periodic task.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Any

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler
from redis.exceptions import LockError

from events.liveness import Liveness

log = logging.getLogger(__name__)

BEAT_LOCK_KEY = "users-service:celery-beat-lock"
#: When the scheduling beat last ticked (epoch seconds): `/health/` reads it (HEALTH_BEAT_MAX_AGE_SECONDS).
BEAT_LAST_TICK_KEY = "users-service:celery-beat-last-tick"


class GuardedDatabaseScheduler(DatabaseScheduler):
    """A `DatabaseScheduler` that schedules only while it holds the beat lock in Redis."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock_ttl = float(settings.REPORTS_BEAT_LOCK_TTL)
        self._lock_token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._redis = redis.Redis.from_url(
            settings.REPORTS_BEAT_LOCK_URL, socket_connect_timeout=2, socket_timeout=2
        )
        self._lock = self._redis.lock(BEAT_LOCK_KEY, timeout=self._lock_ttl, thread_local=False)
        self._holding = False
        self._standing_by_logged = False
        self._liveness = Liveness(settings.LIVENESS_FILE)
        super().__init__(*args, **kwargs)

    def install_default_entries(self, data: Any) -> None:
        """Nothing: `setup_periodic_tasks` schedules `celery.backend_cleanup` (see module docstring)."""

    def _holds_lock(self) -> bool:
        try:
            if self._holding:
                self._lock.reacquire()
                return True
            if self._lock.acquire(blocking=False, token=self._lock_token):
                self._holding = True
                self._standing_by_logged = False
                log.info("beat lock %s acquired by %s: this beat schedules", BEAT_LOCK_KEY, self._lock_token)
                return True
            holder = self._redis.get(BEAT_LOCK_KEY)
        except LockError:
            self._holding = False
            log.error("beat lock %s lost (expired or taken over): this beat stops scheduling", BEAT_LOCK_KEY)
            return False
        except (redis.RedisError, OSError) as exc:
            self._holding = False
            log.error("beat lock %s unavailable (%s): this beat does not schedule", BEAT_LOCK_KEY, exc)
            return False
        if not self._standing_by_logged:
            log.warning(
                "another beat process holds the beat lock %s (%s): this beat does not schedule, standing by",
                BEAT_LOCK_KEY,
                holder.decode() if holder else "unknown",
            )
            self._standing_by_logged = True
        return False

    @property
    def _renew_interval(self) -> float:
        return max(self._lock_ttl / 3, 0.5)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        # Standing by is alive too: the check asks whether the loop turns, not whether it schedules.
        self._liveness.beat()
        if not self._holds_lock():
            return self._renew_interval
        self._record_tick()
        # Come back before the lock expires even when the next task is far away.
        return min(super().tick(*args, **kwargs), self._renew_interval)

    def _record_tick(self) -> None:
        try:
            # Expires with the lock's TTL x 10: a beat gone for good leaves no tick that looks recent.
            self._redis.set(BEAT_LAST_TICK_KEY, time.time(), ex=int(self._lock_ttl * 10) or 1)
        except (redis.RedisError, OSError) as exc:
            log.warning("beat tick not recorded: %s", exc)

    def close(self) -> None:
        super().close()
        if self._holding:
            try:
                self._lock.release()
            except (LockError, redis.RedisError, OSError) as exc:
                log.warning("beat lock %s not released: %s", BEAT_LOCK_KEY, exc)
            self._holding = False
