"""DRF token authentication with a short per-process memory of valid tokens.

DRF's `TokenAuthentication` reads the token and its user from the database on every request:
one query per request, the largest single cost of a cache hit. Here a valid token is remembered
in this process for `TOKEN_AUTH_CACHE_SECONDS`. The price: a deleted (revoked) token, or a
user made inactive, keeps working for at most that long in each process that had seen it (the
process that deletes the token forgets it at once). Unknown tokens are never remembered, so
a wrong token costs its query each time and cannot fill the memory.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete
from django.dispatch import receiver
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

#: Tokens remembered per process at most; beyond it the memory starts afresh (a rare, cheap reset).
MAX_REMEMBERED = 10_000

_remembered: dict[str, tuple[float, Any, Token]] = {}
_lock = threading.Lock()


def forget_tokens() -> None:
    """Forget every remembered token in this process (tests, or after a mass revocation in a shell)."""
    with _lock:
        _remembered.clear()


@receiver(post_delete, sender=Token, dispatch_uid="users_service.authentication.forget_deleted_token")
def _forget_deleted_token(sender: type[Token], instance: Token, **kwargs: Any) -> None:
    with _lock:
        _remembered.pop(instance.key, None)


def remembered(key: str) -> tuple[Any, Token] | None:
    """(user, token) of a token this process validated less than `TOKEN_AUTH_CACHE_SECONDS` ago,
    else None (never a database query: the cache hit path asks this before DRF runs)."""
    if settings.TOKEN_AUTH_CACHE_SECONDS <= 0:
        return None
    entry = _remembered.get(key)
    if entry is not None and entry[0] > time.monotonic():
        return entry[1], entry[2]
    return None


class CachedTokenAuthentication(TokenAuthentication):
    """`TokenAuthentication` that trusts a token it validated less than `TOKEN_AUTH_CACHE_SECONDS` ago.

    The user object is shared by the requests of that window: views treat `request.user` as
    read-only, as every view of this service does.
    """

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        ttl = settings.TOKEN_AUTH_CACHE_SECONDS
        if ttl <= 0:
            return super().authenticate_credentials(key)
        if (known := remembered(key)) is not None:
            return known
        now = time.monotonic()
        # Raises AuthenticationFailed for an unknown token or an inactive user: nothing remembered.
        user, token = super().authenticate_credentials(key)
        with _lock:
            if len(_remembered) >= MAX_REMEMBERED:
                _remembered.clear()
            _remembered[key] = (now + ttl, user, token)
        return user, token
