"""The routing table: which Celery tasks each event type fans out to.

The only place that maps events to tasks; each task's queue comes from the queue
roles (`users_service/queues.py`). A contract type missing here is dead-lettered
as unroutable; an empty tuple means "acknowledge, nothing to do".
"""

from __future__ import annotations

from events import types
from events.bridge import Route, RoutingTable
from users_service.queues import role_of_task


def route(task: str) -> Route:
    """`task` on the queue the roles route it to."""
    return Route(task, role_of_task(task).queue)


APPLY_USER_EVENT = route("directory.apply_user_event")
FORGET_USER = route("directory.forget_user")
FORGET_HANDOFFS = route("bridge.forget_user")
INVALIDATE_CATALOGUE = route("catalogue.invalidate")
INVALIDATE_RESOURCES = route("resources.invalidate")
WARM_RESOURCES = route("resources.warm")

ROUTES: RoutingTable = {
    types.USER_CREATED: (APPLY_USER_EVENT, WARM_RESOURCES),
    types.USER_UPDATED: (APPLY_USER_EVENT, INVALIDATE_RESOURCES),
    types.USER_DEACTIVATED: (APPLY_USER_EVENT,),
    types.USER_REACTIVATED: (APPLY_USER_EVENT,),
    types.USER_ERASED: (APPLY_USER_EVENT, INVALIDATE_RESOURCES, FORGET_USER, FORGET_HANDOFFS),
    types.USER_RESOURCES_CHANGED: (INVALIDATE_RESOURCES,),
    types.CATALOGUE_CHANGED: (INVALIDATE_CATALOGUE,),
}

#: The tasks that record each event they handle in the inbox (`directory.InboxEntry`): an event's
#: hand-off counts as applied once each of its tasks named here is in the inbox. The cache tasks
#: are not confirmed (a lost invalidation lasts at most the entry's TTL); they are published
#: again alongside when their event's apply is (docs/delivery.md).
INBOX_TASKS: frozenset[str] = frozenset({APPLY_USER_EVENT.task})
