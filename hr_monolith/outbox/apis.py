"""`/api/outbox/<event_id>/`: when the monolith wrote and published one event, for the users
service's timeline of that event (`manage.py users trace`). Ids, times and states only: never the
payload, which names a person."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.selectors import outbox_event_get


class StaffOrViewOutbox(DjangoModelPermissions):
    """Staff, or an account given `outbox.view_outboxevent` (the users service's, to trace events)."""

    perms_map = {**DjangoModelPermissions.perms_map, "GET": ["%(app_label)s.view_%(model_name)s"]}

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if user and user.is_authenticated and user.is_staff:
            return True
        return super().has_permission(request, view)


class OutboxEventOutput(serializers.Serializer):
    event_id = serializers.UUIDField()
    event_type = serializers.CharField()
    aggregate_type = serializers.CharField()
    aggregate_id = serializers.CharField()
    aggregate_version = serializers.IntegerField()
    occurred_at = serializers.CharField(source="envelope.occurred_at")
    trace_id = serializers.CharField(source="envelope.trace_id")
    traceparent = serializers.CharField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    state = serializers.CharField()


class OutboxEventApi(APIView):
    queryset = OutboxEvent.objects.all()
    permission_classes = [StaffOrViewOutbox]

    @extend_schema(
        operation_id="outbox_event_retrieve",
        responses={200: OutboxEventOutput, 404: OpenApiResponse(description="No such event.")},
    )
    def get(self, request: Request, event_id: str) -> Response:
        row = outbox_event_get(event_id=event_id)
        if row is None:
            raise Http404
        return Response(OutboxEventOutput(row).data)
