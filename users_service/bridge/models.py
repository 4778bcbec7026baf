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
