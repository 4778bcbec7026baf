"""DRF output serializers built from a representation declared in events/ (events/representations.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

FIELD_KINDS: dict[str, type[serializers.Field]] = {
    "string": serializers.CharField,
    "uuid": serializers.UUIDField,
    "date-time": serializers.DateTimeField,
}


def output_serializer(
    name: str,
    representation: Mapping[str, Any],
    *,
    description: str | None = None,
    **items: type[serializers.Serializer],
) -> type[serializers.Serializer]:
    """A serializer class named `name` (the API docs' component name, with its `description`) with
    the representation's fields. A list field takes the serializer of its items from `items`,
    under the field's name."""
    declared: dict[str, Any] = {"__doc__": description}
    for field, kind in representation.items():
        if isinstance(kind, list):
            declared[field] = items[field](many=True)
        else:
            declared[field] = FIELD_KINDS[kind]()
    return type(name, (serializers.Serializer,), declared)
