"""Exceptions that decide a message's fate.

`InvalidMessage` can never succeed: it goes to the dead-letter queue at once.
`TransientError` may succeed later: the message is left for redelivery.
"""

from __future__ import annotations


class InvalidMessage(Exception):
    """A message that can never be processed (poison)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class InvalidEvent(InvalidMessage):
    """An envelope that breaks the event contract."""


class TransientError(Exception):
    """A failure that may go away by itself (broker down, timeout)."""
