"""Admin of the outbox: the backlog (count, oldest age) in the title, and a re-send action."""

from __future__ import annotations

from django.contrib import admin

from hr_monolith.outbox.models import OutboxBackfill, OutboxEvent
from hr_monolith.outbox.selectors import outbox_backlog
from hr_monolith.outbox.services import outbox_resend


class SentFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", "pending"), ("sent", "sent")]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(sent_at__isnull=True)
        if self.value() == "sent":
            return queryset.filter(sent_at__isnull=False)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "event_type",
        "aggregate_id",
        "aggregate_version",
        "created_at",
        "sent_at",
        "attempts",
        "last_error",
    )
    list_filter = (SentFilter, "event_type")
    search_fields = ("aggregate_id", "event_id")
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    actions = ["resend"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        backlog = outbox_backlog()
        age = backlog.oldest_age_seconds
        extra_context = {
            **(extra_context or {}),
            "backlog": backlog,
            "title": f"Outbox: {backlog.pending} pending"
            + (f", oldest {age:.0f}s old" if age is not None else ""),
        }
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description="Re-send selected events (mark them pending)")
    def resend(self, request, queryset):
        count = outbox_resend(ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} events will be published again by the relay.")


@admin.register(OutboxBackfill)
class OutboxBackfillAdmin(admin.ModelAdmin):
    list_display = ("id", "filters", "emitted", "last_user_id", "started_at", "finished_at")
    readonly_fields = [f.name for f in OutboxBackfill._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
