"""`UserRecord` (the read model), `InboxEntry` (which events each task has handled), `FailedTask`."""

from __future__ import annotations

from django.db import models


class UserRecord(models.Model):
    """A user as last seen in an event. An erased user stays as a tombstone: id and version only."""

    id = models.UUIDField(primary_key=True)
    email = models.EmailField(blank=True, default="")
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    department = models.CharField(max_length=32, null=True, blank=True)
    position = models.CharField(max_length=32, null=True, blank=True)
    location = models.CharField(max_length=32, null=True, blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    #: The `aggregate_version` of the newest event applied.
    version = models.PositiveIntegerField(default=0)
    erased = models.BooleanField(default=False)
    last_event_id = models.UUIDField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True, help_text="occurred_at of that event")
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        verbose_name = "user (read model)"
        ordering = ["last_name", "first_name", "id"]
        indexes = [models.Index(fields=["department"]), models.Index(fields=["email"])]

    def __str__(self) -> str:
        return f"{self.id} (erased)" if self.erased else f"{self.first_name} {self.last_name} <{self.email}>"


class InboxEntry(models.Model):
    """One row per (event, task): a redelivered event finds its row and changes nothing."""

    class Outcome(models.TextChoices):
        APPLIED = "applied"
        STALE = "stale", "stale (an equal or newer version was already applied)"

    event_id = models.UUIDField()
    task_name = models.CharField(max_length=100)
    event_type = models.CharField(max_length=64)
    aggregate_id = models.CharField(max_length=200)
    aggregate_version = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    processed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "inbox entries"
        ordering = ["-processed_at"]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "task_name"], name="inbox_event_task_unique")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_id} v{self.aggregate_version} → {self.task_name}"


class FailedTask(models.Model):
    """A task that failed for good: its retries were spent, or its error was not transient.

    Late acks mean the broker forgets a failed task; this row keeps what is needed to run it
    again (admin action "Re-enqueue"). One row per task id: a re-enqueued task that fails
    again updates its row.
    """

    class Status(models.TextChoices):
        FAILED = "failed"
        REQUEUED = "requeued"

    task_id = models.CharField(max_length=255, unique=True)
    task_name = models.CharField(max_length=200, db_index=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=64, blank=True, default="")
    error = models.TextField()
    traceback = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(help_text="runs of the task before it failed for good")
    transient = models.BooleanField(help_text="retries spent on a transient error (else: not retryable)")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FAILED, db_index=True)
    failed_at = models.DateTimeField(db_index=True)
    requeued_at = models.DateTimeField(null=True, blank=True)
    requeue_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"{self.task_name}[{self.task_id}] {self.status}"
