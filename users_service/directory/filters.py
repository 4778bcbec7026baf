"""Query parameters of `GET /api/users/`: every one validated, so a bad value is a 400 naming it."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from users_service.directory.models import UserRecord

_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


class StrictBooleanField(forms.TypedChoiceField):
    """`true`/`false`/`1`/`0`; anything else is an error (Django's NullBooleanField reads it as "unset")."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.pop("empty_label", None)
        super().__init__(
            *args,
            choices=[(key, key) for key in _BOOLEANS],
            coerce=lambda value: _BOOLEANS[value],
            **kwargs,
        )

    def clean(self, value):
        return super().clean(value.lower() if isinstance(value, str) else value)


class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class StableOrderingFilter(django_filters.OrderingFilter):
    """Ties broken by id, so that pages of an ordered list neither repeat nor skip a user."""

    def filter(self, qs: QuerySet, value) -> QuerySet:
        qs = super().filter(qs, value)
        return qs.order_by(*qs.query.order_by, "id") if value else qs


class UserFilter(django_filters.FilterSet):
    department = django_filters.CharFilter(help_text="Department code, e.g. ENG")
    position = django_filters.CharFilter(help_text="Position code")
    location = django_filters.CharFilter(help_text="Location code")
    active = StrictBooleanFilter(field_name="is_active", help_text="true or false")
    updated_since = django_filters.IsoDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="ISO 8601 date or date-time; users whose record changed at or after it",
    )
    search = django_filters.CharFilter(
        method="filter_search", help_text="Case-insensitive match on email, first or last name"
    )
    ordering = StableOrderingFilter(
        fields=(
            ("last_name", "last_name"),
            ("first_name", "first_name"),
            ("email", "email"),
            ("department", "department"),
            ("updated_at", "updated_at"),
            ("version", "version"),
        ),
        help_text="Comma-separated fields, `-` for descending, e.g. `-updated_at,last_name`",
    )

    class Meta:
        model = UserRecord
        fields = ["department", "position", "location"]

    def filter_search(self, queryset: QuerySet[UserRecord], name: str, value: str) -> QuerySet[UserRecord]:
        return queryset.filter(
            Q(email__icontains=value) | Q(first_name__icontains=value) | Q(last_name__icontains=value)
        )
