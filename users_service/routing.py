"""The routing table: which Celery tasks (and queues) each event type fans out to.

The only place that maps events to tasks. A contract type missing here is
dead-lettered as unroutable; an empty tuple means "acknowledge, nothing to do".
"""

from __future__ import annotations

from events import types
from events.bridge import Route, RoutingTable

QUEUE_EVENTS = "events"
QUEUE_CACHE = "cache"
QUEUE_REPORTS = "reports"

APPLY_USER_EVENT = Route("directory.apply_user_event", QUEUE_EVENTS)
INVALIDATE_CATALOGUE = Route("catalogue.invalidate", QUEUE_CACHE)
INVALIDATE_RESOURCES = Route("resources.invalidate", QUEUE_CACHE)
WARM_RESOURCES = Route("resources.warm", QUEUE_CACHE)

ROUTES: RoutingTable = {
    types.USER_CREATED: (APPLY_USER_EVENT, WARM_RESOURCES),
    types.USER_UPDATED: (APPLY_USER_EVENT, INVALIDATE_RESOURCES),
    types.USER_DEACTIVATED: (APPLY_USER_EVENT,),
    types.USER_REACTIVATED: (APPLY_USER_EVENT,),
    types.USER_ERASED: (APPLY_USER_EVENT, INVALIDATE_RESOURCES),
    types.USER_RESOURCES_CHANGED: (INVALIDATE_RESOURCES,),
    types.CATALOGUE_CHANGED: (INVALIDATE_CATALOGUE,),
}
