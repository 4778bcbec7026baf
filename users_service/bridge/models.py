"""`DeadLetter`: no table, only a place in the admin (and its permissions) for the SQS dead-letter queue."""

from __future__ import annotations

from django.db import models


class DeadLetter(models.Model):
    """The admin's handle on the DLQ; the messages themselves live in SQS, never in the database."""

    class Meta:
        managed = False
        default_permissions = ("view", "change")
        verbose_name = "dead letter (SQS DLQ)"
        verbose_name_plural = "dead letters (SQS DLQ)"

    def __str__(self) -> str:
        return "dead letter"


class HandOff(models.Model):
    """An event whose tasks the broker accepted, written before its SQS message is deleted.

    The broker may lose what it holds; this row outlives it. The sweeper re-publishes the tasks
    (same ids) of a row not applied within `HANDOFF_GRACE_SECONDS`, marks rows applied once every
    task that reports to the inbox is there, and prunes applied rows (docs/delivery.md).
    No personal data in the fields others read; `envelope` (needed to publish the tasks again)
    is kept only until the event is applied.
    """

    event_id = models.UUIDField(primary_key=True)
    event_type = models.CharField(max_length=64)
    aggregate_id = models.CharField(max_length=200)
    trace_id = models.CharField(max_length=64, blank=True, default="")
    #: The Celery task ids handed over (`<event_id>:<task name>`); a re-publish reuses them.
    task_ids = models.JSONField(default=list)
    received_at = models.DateTimeField(help_text="when the bridge received the SQS message")
    handed_at = models.DateTimeField(help_text="when the broker accepted the tasks")
    attempts = models.PositiveIntegerField(default=0, help_text="re-publishes so far")
    republished_at = models.DateTimeField(
        null=True, blank=True, help_text="when the sweeper last published the tasks again"
    )
    #: Set when HANDOFF_MAX_ATTEMPTS re-publishes did not bring the event to the inbox: the
    #: sweeper publishes it no more (it still notices when the event is applied by other means).
    parked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # A database default: the bridge's insert (apply_statements) names only the columns it writes.
    parked_reason = models.TextField(blank=True, db_default="", help_text="the task's last error, if known")
    #: When the sweeper looks at the row next; null once applied (the due query skips it).
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    applied_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="when the last task reached the inbox"
    )
    #: The envelope the tasks carry, cleared when the row is applied: personal data stays no
    #: longer than it does in the broker.
    envelope = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "hand-off"
        ordering = ["-handed_at"]

    def __str__(self) -> str:
        if self.applied_at:
            state = "applied"
        elif self.parked_at:
            state = f"parked after {self.attempts} re-publishes"
        else:
            state = f"pending, {self.attempts} re-publishes"
        return f"{self.event_type} {self.event_id} ({state})"
