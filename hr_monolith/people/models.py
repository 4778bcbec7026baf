"""The employee record. Changed only through `people.services`, which write the outbox."""

from __future__ import annotations

import uuid

from django.db import models

from hr_monolith.catalogue.models import Department, Location, Position
from hr_monolith.constraints import PythonCheckConstraint


class User(models.Model):
    """An employee. Not the login account of the admin: that is `auth.User`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    position = models.ForeignKey(
        Position, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    #: Rises by exactly one with each change; events carry it as `aggregate_version`.
    version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "employee"
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            PythonCheckConstraint(
                condition=models.Q(end_date__isnull=True)
                | models.Q(start_date__isnull=True)
                | models.Q(end_date__gte=models.F("start_date")),
                name="user_end_after_start",
                violation_error_message="end_date must not be before start_date.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} <{self.email}>"
