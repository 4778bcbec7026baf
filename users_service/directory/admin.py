from django.contrib import admin

from users_service.directory.models import InboxEntry, UserRecord


class ReadOnlyAdmin(admin.ModelAdmin):
    """The monolith owns the data: here it can be browsed, not edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UserRecord)
class UserRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "email",
        "first_name",
        "last_name",
        "department",
        "position",
        "location",
        "is_active",
        "erased",
        "version",
        "updated_at",
    )
    list_filter = ("is_active", "erased", "department", "position", "location")
    search_fields = ("email", "first_name", "last_name", "id")


@admin.register(InboxEntry)
class InboxEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "processed_at",
        "event_type",
        "aggregate_id",
        "aggregate_version",
        "task_name",
        "outcome",
        "event_id",
    )
    list_filter = ("outcome", "event_type", "task_name")
    search_fields = ("aggregate_id", "event_id")
