"""Value-free text for a task's arguments: what Celery puts in a task message's `argsrepr` and
`kwargsrepr` headers, and what the result backend and the worker's logs then show.

Celery's default is `saferepr(args)`: the whole envelope, personal data included, copied into every
task message, every retry, every result row. Here an envelope reads `<user.updated <event id>>` and
any other value only by its type, so nothing the sender wrote reaches a header, a log or a result
row through the arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def describe(value: Any) -> str:
    """One argument: an envelope by its type and id, anything else by its Python type."""
    if isinstance(value, Mapping) and "event_type" in value and "event_id" in value:
        event_type, event_id = value.get("event_type"), value.get("event_id")
        if isinstance(event_type, str) and isinstance(event_id, str):
            # Contract-valid envelopes have a dotted type and a UUID; clip whatever else arrives.
            return f"<{event_type[:64]} {event_id[:36]}>"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return f"<{type(value).__name__}>"


def task_argsrepr(args: Iterable[Any] | None) -> str:
    return "[" + ", ".join(describe(value) for value in args or ()) + "]"


def task_kwargsrepr(kwargs: Mapping[str, Any] | None) -> str:
    # Keyword names are the task's own parameter names, never data.
    return "{" + ", ".join(f"{name!r}: {describe(value)}" for name, value in (kwargs or {}).items()) + "}"
