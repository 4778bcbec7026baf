"""Validate an envelope against the JSON Schema of its type and schema_version.

Producer and consumer both call `validate_envelope`; a failure raises
`InvalidEvent` whose `reason` is one of the short codes below and whose
`detail` says which field is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

from events.errors import InvalidEvent

SCHEMA_DIR = Path(__file__).parent / "schemas"
#: How the contract names fields (snake case): a path made of these quotes no value.
_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_SCHEMA_FILE = re.compile(r"^(?P<type>[a-z_]+\.[a-z_]+)\.v(?P<version>\d+)\.json$")

REASON_NOT_AN_OBJECT = "not_an_object"
REASON_UNKNOWN_TYPE = "unknown_event_type"
REASON_UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
REASON_SCHEMA = "schema_violation"


@lru_cache(maxsize=1)
def _fast() -> dict[tuple[str, int], jsonschema_rs.Draft202012Validator]:
    """The same inlined schemas in jsonschema-rs, which only answers valid or not, ~50x faster.

    Most envelopes are valid: the bridge's CPU per event was mostly validation (1.6 of
    2.2 ms, bench/bridge_drain). The Python validator names the error of an envelope
    jsonschema-rs refuses, and accepts it if it finds none: the two differ only on exotic
    characters (`\\d`, `\\s` in patterns are ECMA-262 in Rust, Unicode in Python), and
    producer and consumer share this function, so they always agree.
    """
    validators, _ = _load()
    return {key: jsonschema_rs.Draft202012Validator(v.schema) for key, v in validators.items()}


@lru_cache(maxsize=1)
def _load() -> tuple[dict[tuple[str, int], Draft202012Validator], Registry]:
    resources = []
    versioned: dict[tuple[str, int], dict[str, Any]] = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
        match = _SCHEMA_FILE.match(path.name)
        if match and not match["type"].startswith("user-snapshot"):
            versioned[(match["type"], int(match["version"]))] = schema
    registry: Registry = Registry().with_resources(resources)
    validators = {
        key: Draft202012Validator(_inline(schema, registry.resolver(schema["$id"])), registry=registry)
        for key, schema in versioned.items()
    }
    return validators, registry


def _inline(node: Any, resolver: Any) -> Any:
    """The schema with every `$ref` replaced by what it points to.

    Resolving references through the registry at each validation cost ~2 ms an envelope
    (measured: a 3,000-user backfill spent most of its time there); the inlined schema
    validates the same way at a fraction of that. Our schemas have no recursive references.
    """
    if isinstance(node, list):
        return [_inline(item, resolver) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        resolved = resolver.lookup(node["$ref"])
        target = {k: v for k, v in resolved.contents.items() if k not in ("$id", "$schema", "$defs")}
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        inlined = _inline(target, resolved.resolver)
        return {"allOf": [inlined, _inline(siblings, resolver)]} if siblings else inlined
    return {key: _inline(value, resolver) for key, value in node.items() if key != "$defs"}


def known_versions(event_type: str) -> list[int]:
    """The schema versions this code accepts for `event_type` (empty if the type is unknown)."""
    validators, _ = _load()
    return sorted(v for (t, v) in validators if t == event_type)


def known_event_types() -> set[str]:
    validators, _ = _load()
    return {t for (t, _v) in validators}


def validate_envelope(data: Any) -> None:
    """Raise `InvalidEvent` unless `data` is a valid envelope of a known type and version."""
    if not isinstance(data, Mapping):
        raise InvalidEvent(
            REASON_NOT_AN_OBJECT, f"expected a JSON object, got {type(data).__name__}", validator="type"
        )
    event_type = data.get("event_type")
    version = data.get("schema_version")
    versions = known_versions(event_type) if isinstance(event_type, str) else []
    if not versions:
        raise InvalidEvent(
            REASON_UNKNOWN_TYPE,
            f"event_type {event_type!r} is not in the contract",
            path="event_type",
            validator="enum",
        )
    if not isinstance(version, int) or isinstance(version, bool) or version not in versions:
        raise InvalidEvent(
            REASON_UNKNOWN_SCHEMA_VERSION,
            f"{event_type} schema_version {version!r} is not accepted (accepted: {versions})",
            path="schema_version",
            validator="enum",
        )
    if _fast()[(event_type, version)].is_valid(data):
        return
    validators, _ = _load()
    error = best_match(validators[(event_type, version)].iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(envelope)"
        raise InvalidEvent(
            REASON_SCHEMA,
            f"{where}: {error.message}",
            path=value_free_path(error.absolute_path),
            validator=str(error.validator),
        )


def value_free_path(path: Iterable[str | int]) -> str:
    """A JSON path fit for logs: our field names and list indices; any other key (a key the
    sender made up may be anything, an email too) is shown as `*`."""
    return (
        "/".join(str(part) if isinstance(part, int) or _FIELD_NAME.match(part) else "*" for part in path)
        or "(envelope)"
    )
