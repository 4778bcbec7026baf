"""Admin of the outbox: the backlog (pending count, oldest age, failed count) in the title, a state
filter, and a re-send action that needs its own permission. Only sent rows can be deleted here:
deleting a pending or failed row would lose its event."""

from __future__ import annotations

from django.contrib import admin, messages

from hr_monolith.outbox.models import OutboxBackfill, OutboxEvent
from hr_monolith.outbox.selectors import outbox_backlog
from hr_monolith.outbox.services import outbox_resend


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", "pending"), ("sent", "sent"), ("failed", "failed (parked)")]

    def queryset(self, request, queryset):
        states = {"pending": queryset.pending, "sent": queryset.sent, "failed": queryset.failed}
        return states[self.value()]() if self.value() in states else queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "event_type",
        "aggregate_id",
        "aggregate_version",
        "state",
        "created_at",
        "sent_at",
        "attempts",
        "refusals",
        "failed_at",
        "last_error",
    )
    list_filter = (StateFilter, "event_type")
    search_fields = ("aggregate_id", "event_id")
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    actions = ["resend"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Pending and failed rows still have to be published: deleting one loses its event.
        if obj is not None and obj.sent_at is None:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        queryset.sent().delete()

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("outbox.resend_outboxevent")

    def changelist_view(self, request, extra_context=None):
        backlog = outbox_backlog()
        age = backlog.oldest_age_seconds
        extra_context = {
            **(extra_context or {}),
            "backlog": backlog,
            "title": f"Outbox: {backlog.pending} pending"
            + (f", oldest {age:.0f}s old" if age is not None else "")
            + (f"; {backlog.failed} failed (parked: re-send them)" if backlog.failed else ""),
        }
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description="Re-send selected events (mark them pending)", permissions=["resend"])
    def resend(self, request, queryset):
        chosen = list(queryset.values_list("pk", flat=True))
        count = outbox_resend(ids=chosen)
        self.message_user(request, f"{count} events will be published again by the relay.")
        if skipped := len(chosen) - count:
            self.message_user(
                request,
                f"{skipped} left alone: already pending, or redacted (their person was erased).",
                level=messages.WARNING,
            )


@admin.register(OutboxBackfill)
class OutboxBackfillAdmin(admin.ModelAdmin):
    list_display = ("id", "filters", "emitted", "last_user_id", "started_at", "finished_at")
    readonly_fields = [f.name for f in OutboxBackfill._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
