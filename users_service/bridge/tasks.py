"""The bridge app's part of an erase: its hand-off records keep an event's envelope (the person's
name and email) until the event is applied."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from events import types
from users_service.bridge.models import HandOff

log = logging.getLogger(__name__)


@shared_task(name="bridge.forget_user", autoretry_for=(OperationalError, InterfaceError))
def forget_user_handoffs(envelope: dict[str, Any]) -> int:
    """After `user.erased`: delete the hand-off records of the user's earlier events.

    The erase supersedes them (the tombstone refuses every older version), so nothing is lost by
    not publishing them again; the erase's own record stays until it is applied. A record the
    bridge writes later for an older event is cleared when that event is found stale in the inbox.
    """
    deleted, _ = (
        HandOff.objects.filter(aggregate_id=envelope["aggregate_id"])
        .exclude(event_type=types.USER_ERASED)
        .delete()
    )
    log.info("bridge: %d hand-off records of an erased user deleted", deleted)
    return deleted
