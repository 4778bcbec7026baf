"""Pagination of the users service's lists: `limit`/`offset`, checked, and capped by `USERS_API_MAX_LIMIT`."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """`limit`/`offset` must be non-negative integers: a typo is a 400, not a silent default.

    A `limit` above `USERS_API_MAX_LIMIT` is clamped to it (DRF's behaviour); the `next` link
    goes on from there, so a client that follows it still reads everything.
    """

    @property
    def max_limit(self) -> int:
        return settings.USERS_API_MAX_LIMIT

    def _checked(self, request: Request, param: str) -> None:
        raw = request.query_params.get(param)
        if raw is not None and not (raw.isdigit() and (param == "offset" or int(raw) > 0)):
            kind = "a non-negative" if param == "offset" else "a positive"
            raise ValidationError({param: [f"Must be {kind} integer."]})

    def get_schema_operation_parameters(self, view):
        # The schema says what `_checked` enforces: a client generated from it sends no 400.
        parameters = super().get_schema_operation_parameters(view)
        minimum = {self.limit_query_param: 1, self.offset_query_param: 0}
        for parameter in parameters:
            if parameter["name"] in minimum:
                parameter["schema"]["minimum"] = minimum[parameter["name"]]
        return parameters

    def paginate_queryset(self, queryset, request, view=None):
        self._checked(request, self.limit_query_param)
        self._checked(request, self.offset_query_param)
        return super().paginate_queryset(queryset, request, view)
