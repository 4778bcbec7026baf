"""`ReportRun`: one row per (report, period), holding the figures a report computed for that period."""

from __future__ import annotations

from django.db import models


class ReportRun(models.Model):
    """A report for one period. Unique per (report, period): a retry or a second beat reuses the row."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    report = models.CharField(max_length=64)
    #: The period's key: `2026-11-23` (daily), `2026-W47` (weekly), `2026-11-23T15` (hourly).
    period = models.CharField(max_length=32)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    #: Headline numbers, e.g. {"total": 200}; null where a figure is not available.
    figures = models.JSONField(default=dict, blank=True)
    #: The report's table (a list of flat objects): what CSV and the chart show.
    rows = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "report"]
        constraints = [models.UniqueConstraint(fields=["report", "period"], name="report_run_period_unique")]

    def __str__(self) -> str:
        return f"{self.report} {self.period} ({self.status})"
