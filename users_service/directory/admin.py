"""Admin of the directory: the read model and inbox (read-only), failed tasks with a re-enqueue action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from kombu.exceptions import OperationalError as BrokerError

from events import types
from shared_settings.admin import ReadOnlyAdmin
from users_service.directory import services
from users_service.directory.models import FailedTask, InboxEntry, UserRecord


@admin.register(UserRecord)
class UserRecordAdmin(ReadOnlyAdmin):
    """The monolith owns the data: here it can be browsed, not edited."""

    list_display = (
        "id",
        *types.PERSONAL_FIELDS,
        *types.USER_CATALOGUE_FIELDS,
        "is_active",
        "erased",
        "version",
        "updated_at",
    )
    list_filter = ("is_active", "erased", *types.USER_CATALOGUE_FIELDS)
    search_fields = (*types.PERSONAL_FIELDS, "id")


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


@admin.register(FailedTask)
class FailedTaskAdmin(ReadOnlyAdmin):
    """Failed tasks can be re-enqueued (in bulk) or deleted, not edited: their arguments are the event."""

    list_display = (
        "failed_at",
        "task_name",
        "task_id",
        "status",
        "attempts",
        "transient",
        "error",
        "requeue_count",
        "requeued_at",
    )
    list_filter = ("status", "transient", "task_name", "queue")
    search_fields = ("task_id", "error")
    readonly_fields = [field.name for field in FailedTask._meta.fields]
    actions = ["requeue"]

    def has_change_permission(self, request, obj=None):
        # The change page is the detail view (read-only fields); actions need the permission too.
        return request.user.has_perm("directory.change_failedtask")

    def has_delete_permission(self, request, obj=None):
        # A row holds an event, personal data included: an operator who settled it may remove it.
        return request.user.has_perm("directory.delete_failedtask")

    @admin.action(description="Re-enqueue the selected failed tasks", permissions=["change"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[FailedTask]) -> None:
        try:
            sent = services.failed_task_requeue(failed_tasks=queryset.order_by("failed_at"))
        except BrokerError as exc:
            self.message_user(request, f"The broker refused the tasks: {exc}", messages.ERROR)
            return
        skipped = queryset.count() - sent
        note = f" ({skipped} already re-enqueued, left alone)" if skipped > 0 else ""
        self.message_user(request, f"Re-enqueued {sent} task(s){note}.", messages.SUCCESS)
