"""Admin of resource grants (read-only)."""

from __future__ import annotations

from django.contrib import admin

from hr_monolith.resources.models import ResourceGrant
from shared_settings.admin import ReadOnlyAdmin


@admin.register(ResourceGrant)
class ResourceGrantAdmin(ReadOnlyAdmin):
    """Read-only here: grants change through `resources.services` so that the event is written."""

    list_display = ("user", "resource", "level", "granted_at")
    search_fields = ("resource", "user__email")
    list_filter = ("level",)
