from django.contrib import admin

from hr_monolith.resources.models import ResourceGrant


@admin.register(ResourceGrant)
class ResourceGrantAdmin(admin.ModelAdmin):
    """Read-only here: grants change through `resources.services` so that the event is written."""

    list_display = ("user", "resource", "level", "granted_at")
    search_fields = ("resource", "user__email")
    list_filter = ("level",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
