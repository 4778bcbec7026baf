"""Representations that one service serves and the other passes on unchanged, declared once.

The monolith answers `/api/users/<uuid>/resources/` with `USER_RESOURCES`; the users service
caches that body and serves it as it is. Both build their serializers (and so their API docs)
from these declarations (shared_settings/serializers.py), so the two cannot drift apart.
A field's kind is "string", "uuid" or "date-time", or a list holding the representation of
each item.
"""

from __future__ import annotations

#: One resource a user has access to, and at which level.
RESOURCE_GRANT = {"resource": "string", "level": "string", "granted_at": "date-time"}
#: The user's id and every grant the user holds.
USER_RESOURCES = {"user_id": "uuid", "resources": [RESOURCE_GRANT]}
