"""The relay's claim: the pending rows due now, oldest first, as one statement compiled once.

Django compiles a queryset each time it is evaluated, and that took about as long as the query
itself on a quiet outbox (0.4-1 ms; profile of the relay in bench/e2e): the relay claims after
every pass, and at a steady rate a pass carries a few rows. The SQL and its parameters are built
from the same queryset once; each claim only puts the current time in.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import connection
from django.db.models import Q

from hr_monolith.outbox.models import OutboxEvent

#: Stands for "now" while the statement is compiled; found again in its parameters.
_NOW = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


class PendingClaim:
    """`rows(now, lock=...)`: up to `batch_size` pending rows due at `now`, in id order; with
    `lock`, `FOR UPDATE SKIP LOCKED` (call it inside the transaction that marks them)."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._statements: dict[tuple[str, bool], tuple[str, list[Any], int]] = {}

    def rows(self, now: datetime.datetime, *, lock: bool) -> list[OutboxEvent]:
        sql, params, now_at = self._statement(lock)
        params = list(params)
        params[now_at] = connection.ops.adapt_datetimefield_value(now)
        return list(OutboxEvent.objects.raw(sql, params))

    def _statement(self, lock: bool) -> tuple[str, list[Any], int]:
        key = (connection.vendor, lock)
        if key not in self._statements:
            due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=_NOW)
            pending = OutboxEvent.objects.pending().filter(due).order_by("id")
            if lock:
                pending = pending.select_for_update(skip_locked=True)
            sql, params = pending[: self.batch_size].query.get_compiler(connection=connection).as_sql()
            params = list(params)
            self._statements[key] = (
                sql,
                params,
                params.index(connection.ops.adapt_datetimefield_value(_NOW)),
            )
        return self._statements[key]
