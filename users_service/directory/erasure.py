"""Forget an erased user in every store of the users service that may hold a copy of them.

The read model's tombstone is written by `services.apply_user_event`; the copies are elsewhere:
failed tasks (their arguments are envelopes), the result backend's rows, the per-user cache
entries, the SQS dead-letter queue. `user_forget` (task `directory.forget_user`, routed with every
`user.erased`) redacts or deletes each of them; docs/privacy.md says which and how soon.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django_celery_results.models import TaskResult

from events.bridge.dlq import DeadLetterFilter, DeadLetterQueue
from events.errors import TransientError
from users_service import cache_keys
from users_service.directory.models import FailedTask, InboxEntry, UserRecord

#: What a redacted text field says instead of what it held.
REDACTED = "(redacted: user erased)"
#: The envelope fields an erased user's events keep: ids, type, versions, times. Never the payload.
KEPT_ENVELOPE_FIELDS = (
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "producer",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "trace_id",
)


class NotErasedYet(TransientError):
    """`user.erased` fans out to the apply and to the forget: the forget waits for the tombstone,
    so that nothing recorded before the tombstone existed escapes it."""


@dataclass(frozen=True)
class Forgotten:
    """How many copies of one user each store gave up."""

    failed_tasks: int
    task_results: int
    cache_keys: int
    dead_letters: int


def normalised(user_id: uuid.UUID | str) -> str:
    return str(uuid.UUID(str(user_id)))


def envelope_user(value: Any) -> str | None:
    """The user a (maybe broken) task argument is an event of, or None."""
    if not isinstance(value, Mapping) or value.get("aggregate_type", "user") != "user":
        return None
    try:
        return normalised(value.get("aggregate_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError, AttributeError):
        return None


def redacted_envelope(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """An envelope reduced to what an erase keeps: `payload` is the erase event's (`id` only)."""
    kept = {name: envelope[name] for name in KEPT_ENVELOPE_FIELDS if name in envelope}
    kept["payload"] = {"id": envelope.get("aggregate_id")}
    return kept


def redacted_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """A task's arguments with every user envelope redacted (other arguments hold no personal data)."""

    def redact(value: Any) -> Any:
        return redacted_envelope(value) if envelope_user(value) else value

    return [redact(value) for value in args], {name: redact(value) for name, value in kwargs.items()}


def erased_user_of(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str | None:
    """The erased user whose event is among a task's arguments, if any (one query)."""
    users = {envelope_user(value) for value in [*args, *kwargs.values()]} - {None}
    if not users:
        return None
    return UserRecord.objects.filter(pk__in=users, erased=True).values_list("pk", flat=True).first()


def error_type(error: str) -> str:
    """`OperationalError: <message>` → `OperationalError`: the message may quote a value."""
    return error.split(":", 1)[0][:200]


def _failed_tasks(user_id: str) -> list[FailedTask]:
    # The key lookups work on SQLite and PostgreSQL alike; ids are compared case-insensitively.
    query = Q(args__0__aggregate_id__iexact=user_id) | Q(kwargs__envelope__aggregate_id__iexact=user_id)
    return list(FailedTask.objects.select_for_update().filter(query))


def _redact_failed_tasks(user_id: str) -> list[str]:
    task_ids = []
    for failed in _failed_tasks(user_id):
        failed.args, failed.kwargs = redacted_arguments(failed.args, failed.kwargs)
        failed.error = f"{error_type(failed.error)}: {REDACTED}"
        failed.traceback = ""
        failed.save(update_fields=["args", "kwargs", "error", "traceback"])
        task_ids.append(failed.task_id)
    return task_ids


def _redacted_result(result: str | None) -> str | None:
    """A stored exception keeps its type; any other stored result that names the user goes."""
    try:
        decoded = json.loads(result) if result else None
    except ValueError:
        return json.dumps(None)
    if isinstance(decoded, dict) and "exc_type" in decoded:
        return json.dumps({**decoded, "exc_message": [REDACTED]})
    return result


def _redact_task_results(user_id: str, task_ids: Sequence[str]) -> int:
    """Rows of the user's tasks: by task id (`<event_id>:<task>`, from the inbox and failed tasks)
    and by any text that names the user (rows written before argument reprs were value-free)."""
    event_ids = InboxEntry.objects.filter(aggregate_id__iexact=user_id).values_list("event_id", flat=True)
    query = Q(task_id__in=task_ids)
    for event_id in set(event_ids):
        query |= Q(task_id__startswith=f"{event_id}:")
    for field in ("task_args", "task_kwargs", "result", "traceback", "meta"):
        query |= Q(**{f"{field}__icontains": user_id})
    rows = list(TaskResult.objects.select_for_update().filter(query))
    for row in rows:
        row.task_args = json.dumps(REDACTED)
        row.task_kwargs = json.dumps(REDACTED)
        row.result = _redacted_result(row.result)
        row.traceback = None
        row.save(update_fields=["task_args", "task_kwargs", "result", "traceback"])
    return len(rows)


def user_forget(*, user_id: uuid.UUID | str, dead_letters: DeadLetterQueue | None) -> Forgotten:
    """Redact or delete every copy of an erased user; raises `NotErasedYet` before the tombstone.

    Idempotent: a second run finds nothing more. `dead_letters` None skips the DLQ (a service
    that runs without SQS); SQS errors propagate, so the task retries.
    """
    user_id = normalised(user_id)
    if not UserRecord.objects.filter(pk=user_id, erased=True).exists():
        raise NotErasedYet(f"user {user_id} has no tombstone yet")
    with transaction.atomic():
        task_ids = _redact_failed_tasks(user_id)
        results = _redact_task_results(user_id, task_ids)
    keys = cache_keys.of_user(user_id)
    cache.delete_many(keys)
    purged = []
    if dead_letters is not None:
        purged = dead_letters.purge(DeadLetterFilter(mentions=frozenset({user_id})))
    return Forgotten(
        failed_tasks=len(task_ids), task_results=results, cache_keys=len(keys), dead_letters=len(purged)
    )
