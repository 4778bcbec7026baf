from django.contrib import admin
from django.db.models import Min
from django.utils import timezone

from hr_monolith.outbox.models import OutboxEvent


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
        pending = OutboxEvent.objects.filter(sent_at__isnull=True)
        oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
        extra_context = {
            **(extra_context or {}),
            "title": (
                f"Outbox: {pending.count()} pending"
                + (f", oldest {(timezone.now() - oldest).total_seconds():.0f}s old" if oldest else "")
            ),
        }
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description="Re-send selected events (mark them pending)")
    def resend(self, request, queryset):
        count = queryset.update(sent_at=None)
        self.message_user(request, f"{count} events will be published again by the relay.")
