"""A grant of one resource (a system, a share, a licence) to one employee."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from hr_monolith.people.models import User

resource_code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,63}$", "Use 1-64 lower-case letters, digits, '.', '-' or '_'."
)


class AccessLevel(models.TextChoices):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class ResourceGrant(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="resource_grants")
    resource = models.CharField(max_length=64, validators=[resource_code_validator])
    level = models.CharField(max_length=8, choices=AccessLevel.choices, default=AccessLevel.READ)
    granted_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["resource"]
        constraints = [
            models.UniqueConstraint(fields=["user", "resource"], name="resource_grant_unique_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.resource} ({self.level}) for {self.user_id}"
