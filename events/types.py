"""Event type names: the only place they are spelled out."""

from __future__ import annotations

USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
USER_DEACTIVATED = "user.deactivated"
USER_REACTIVATED = "user.reactivated"
USER_ERASED = "user.erased"
USER_RESOURCES_CHANGED = "user.resources_changed"
CATALOGUE_CHANGED = "catalogue.changed"

#: Types whose payload is a full snapshot of the user.
USER_SNAPSHOT_TYPES = frozenset({USER_CREATED, USER_UPDATED, USER_DEACTIVATED, USER_REACTIVATED})

ALL_TYPES = frozenset(USER_SNAPSHOT_TYPES | {USER_ERASED, USER_RESOURCES_CHANGED, CATALOGUE_CHANGED})

CATALOGUE_KINDS = ("departments", "positions", "locations")
