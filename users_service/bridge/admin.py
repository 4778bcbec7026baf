"""Admin of the bridge: the SQS dead-letter queue (browse, filter by reason, see a body, redrive or
purge) and the hand-off records (read-only: the bridge and its sweeper write them; a parked one
can be re-sent)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from events.bridge.celery_publisher import CeleryTaskPublisher
from events.bridge.dlq import DeadLetterFilter
from events.errors import TransientError
from shared_settings.admin import ReadOnlyAdmin
from users_service.bridge.handoff import resend
from users_service.bridge.models import DeadLetter, HandOff
from users_service.bridge.wiring import dead_letter_queue

BROWSE_LIMIT = 500


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._act(request)
        reason = request.GET.get("reason") or ""
        shown = request.GET.get("id") or ""
        try:
            queue = dead_letter_queue()
            everything = queue.browse(limit=BROWSE_LIMIT)
            error = ""
        except (BotoCoreError, ClientError) as exc:
            everything, error = [], f"SQS unavailable: {exc}"
        letters = [letter for letter in everything if not reason or letter.reason == reason]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Dead letters (SQS DLQ)",
            "letters": letters,
            "reasons": sorted({letter.reason for letter in everything}),
            "reason": reason,
            "shown": next((letter for letter in everything if letter.message_id == shown), None),
            "error": error,
            "can_change": self.has_change_permission(request),
            "limit": BROWSE_LIMIT,
        }
        return TemplateResponse(request, "admin/bridge/deadletter/change_list.html", context)

    def _act(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        chosen = frozenset(request.POST.getlist("message_id"))
        action = request.POST.get("action")
        if not chosen:
            self.message_user(request, "Choose at least one message.", messages.WARNING)
        elif action not in ("redrive", "purge"):
            self.message_user(request, f"Unknown action {action!r}.", messages.ERROR)
        else:
            where = DeadLetterFilter(message_ids=chosen)
            try:
                queue = dead_letter_queue()
                if action == "redrive":
                    result = queue.redrive(where)
                    self.message_user(request, f"Redriven to the main queue: {len(result.redriven)}.")
                    if result.failed:
                        self.message_user(
                            request, f"Not redriven: {', '.join(result.failed)}", messages.ERROR
                        )
                else:
                    purged = queue.purge(where)
                    self.message_user(request, f"Purged: {len(purged)}.")
            except (BotoCoreError, ClientError) as exc:
                self.message_user(request, f"SQS unavailable: {exc}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())


class ParkedFilter(admin.SimpleListFilter):
    title = "parked"
    parameter_name = "parked"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Parked"), ("no", "Not parked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[HandOff]) -> QuerySet[HandOff]:
        if self.value() == "yes":
            return queryset.filter(parked_at__isnull=False, applied_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(parked_at__isnull=True)
        return queryset


@admin.register(HandOff)
class HandOffAdmin(ReadOnlyAdmin):
    """Where an event is between the bridge and the read model (docs/delivery.md). A parked event
    (HANDOFF_MAX_ATTEMPTS re-publishes spent) is re-sent by the "resend" action once its cause is fixed."""

    list_display = (
        "handed_at",
        "event_type",
        "aggregate_id",
        "event_id",
        "attempts",
        "next_attempt_at",
        "applied_at",
        "parked_at",
        "parked_reason",
    )
    list_filter = (ParkedFilter, "event_type", ("applied_at", admin.EmptyFieldListFilter))
    search_fields = ("event_id", "aggregate_id", "trace_id")
    # The envelope is what the tasks carry (personal data until applied): never shown here.
    exclude = ("envelope",)
    actions = ["resend"]

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("bridge.change_handoff")

    @admin.action(description="Re-send the selected events (and unpark them)", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[HandOff]) -> None:
        from users_service.celery import app

        publisher = CeleryTaskPublisher(app)
        try:
            sent = resend(list(queryset), publisher=publisher)
        except TransientError as exc:
            self.message_user(request, f"The broker refused the tasks: {exc}", messages.ERROR)
            return
        finally:
            publisher.close()
        skipped = queryset.count() - sent
        note = f" ({skipped} already applied, left alone)" if skipped > 0 else ""
        self.message_user(request, f"Re-sent {sent} event(s){note}.", messages.SUCCESS)
