"""`OutboxEvent`: one row per event, inserted in the transaction of the change."""

from __future__ import annotations

from django.db import models


class OutboxEventQuerySet(models.QuerySet):
    """The states of a row, written once: pending (the relay publishes it), sent, failed (parked)."""

    def pending(self) -> OutboxEventQuerySet:
        return self.filter(sent_at__isnull=True, failed_at__isnull=True)

    def sent(self) -> OutboxEventQuerySet:
        return self.filter(sent_at__isnull=False)

    def failed(self) -> OutboxEventQuerySet:
        return self.filter(sent_at__isnull=True, failed_at__isnull=False)


class OutboxEvent(models.Model):
    # The auto-incrementing primary key is the publishing order.
    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True, editable=False)
    event_type = models.CharField(max_length=64)
    aggregate_type = models.CharField(max_length=32)
    aggregate_id = models.CharField(max_length=200)
    aggregate_version = models.PositiveIntegerField()
    envelope = models.JSONField(help_text="The full event envelope, as published.")
    #: The W3C trace context of the change (its trace is the envelope's trace_id): published as the
    #: SNS message attribute `traceparent`, so the users service's spans and logs join the trace.
    traceparent = models.CharField(max_length=55, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    #: Every publish attempt, including calls that failed whole (SNS unreachable).
    attempts = models.PositiveIntegerField(default=0)
    #: Times SNS refused this entry itself; at RELAY_MAX_ATTEMPTS the row is parked (`failed_at`).
    refusals = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    #: A refused row is not claimed again before this (its own backoff), so it holds up no other row.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    #: Parked: SNS refused it RELAY_MAX_ATTEMPTS times; the relay leaves it until admin re-sends it.
    failed_at = models.DateTimeField(null=True, blank=True)
    #: Its personal data was removed (the person was erased): the payload keeps only the id.
    redacted_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"],
                name="outbox_pending_idx",
                condition=models.Q(sent_at__isnull=True, failed_at__isnull=True),
            ),
            models.Index(fields=["aggregate_type", "aggregate_id"], name="outbox_aggregate_idx"),
        ]
        permissions = [("resend_outboxevent", "Can re-send outbox events")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_id} v{self.aggregate_version}"

    @property
    def state(self) -> str:
        if self.sent_at is not None:
            return "sent"
        return "failed" if self.failed_at is not None else "pending"


class OutboxBackfill(models.Model):
    """One run of `backfill_users`: its filter and how far it got, committed with each batch."""

    id = models.BigAutoField(primary_key=True)
    filters = models.JSONField(default=dict, help_text="The user filter of this run (see backfill_users).")
    #: Every event of the run carries it as `trace_id`, so a consumer can tell a backfill apart.
    trace_id = models.CharField(max_length=32, unique=True)
    last_user_id = models.CharField(max_length=36, blank=True, default="")
    emitted = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        state = "finished" if self.finished_at else f"at {self.last_user_id or 'start'}"
        return f"backfill #{self.id} ({self.emitted} events, {state})"
