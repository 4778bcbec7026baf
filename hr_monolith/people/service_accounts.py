"""Accounts other services call the monolith's API with: a plain login (reads only, as the role
matrix gives a login without staff or model permissions), no password, and a token both sides know."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.db import transaction
from rest_framework.authtoken.models import Token

#: DRF's token key column is 40 characters; under 20 is too easy to guess.
TOKEN_LENGTHS = range(20, 41)


class ServiceAccountError(ValueError):
    """The account cannot take the token asked for (its length, or another account holds it)."""


def _permissions(names: Iterable[str]) -> list[Permission]:
    found = []
    for name in names:
        app_label, _, codename = name.partition(".")
        try:
            found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        except Permission.DoesNotExist:
            raise ServiceAccountError(f"no permission {name!r}") from None
    return found


def service_account_ensure(*, username: str, token: str, permissions: Iterable[str] = ()) -> AbstractBaseUser:
    """Create or repair `username` as a read-only account whose one API token is `token`.

    `permissions` (`app_label.codename`) are the account's only permissions: the users service's
    is given `outbox.view_outboxevent`, to read the times of an event it traces.

    Idempotent: the migrate step runs it at every deploy. The token comes from the deployment's
    secret (the same value the calling service is given), so nothing has to be read back from here;
    a changed secret replaces the old token. Whatever was granted by hand (staff, superuser, groups,
    other permissions, a password) is taken away: the account must stay a reader.
    """
    if len(token) not in TOKEN_LENGTHS:
        raise ServiceAccountError(
            f"the token must be {TOKEN_LENGTHS.start}-{TOKEN_LENGTHS.stop - 1} characters long"
        )
    granted = _permissions(permissions)
    with transaction.atomic():
        user, _ = get_user_model().objects.select_for_update().get_or_create(username=username)
        if Token.objects.filter(key=token).exclude(user=user).exists():
            raise ServiceAccountError("another account holds this token")
        if user.has_usable_password() or user.is_staff or user.is_superuser or not user.is_active:
            user.set_unusable_password()
            user.is_staff = user.is_superuser = False
            user.is_active = True
            user.save()
        user.user_permissions.set(granted)
        user.groups.clear()
        Token.objects.filter(user=user).exclude(key=token).delete()
        Token.objects.get_or_create(user=user, key=token)
    return user
