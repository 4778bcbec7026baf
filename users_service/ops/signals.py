"""Celery signal handlers that feed the task metrics (connected by `OpsConfig.ready`).

The publisher stamps each task message with the time it was queued (a message header, so the
task's arguments stay the envelope alone); the worker observes queued -> applied when the task
succeeds. A prefork child that exits drops its live gauges (`mark_process_dead`).
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import signals
from prometheus_client import multiprocess

from users_service.ops import metrics


@signals.before_task_publish.connect
def stamp_queued_at(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    # Runs on the bridge's hot path: one clock read per task.
    if headers is not None:
        headers.setdefault(metrics.QUEUED_AT_HEADER, time.time())


@signals.task_success.connect
def observe_applied(sender: Any = None, **kwargs: Any) -> None:
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    metrics.observe_task_applied(sender.name, getattr(sender.request, metrics.QUEUED_AT_HEADER, None))


@signals.worker_process_shutdown.connect
def forget_live_gauges(pid: int | None = None, **kwargs: Any) -> None:
    multiprocess.mark_process_dead(pid or os.getpid())
