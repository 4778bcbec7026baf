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

#: What names a person in a user snapshot: shown and searched in the admins, removed by `user.erased`.
PERSONAL_FIELDS = ("email", "first_name", "last_name")
#: The catalogue codes a user carries (one per kind of CATALOGUE_KINDS, in its order).
USER_CATALOGUE_FIELDS = ("department", "position", "location")
#: A user's state in a snapshot payload besides its `id`, in the order of
#: events/schemas/user-snapshot.v1.json (tests/events/test_envelope.py holds the two together).
USER_STATE_FIELDS = (*PERSONAL_FIELDS, *USER_CATALOGUE_FIELDS, "start_date", "end_date", "is_active")
