"""Exceptions that decide a message's fate.

`InvalidMessage` can never succeed: it goes to the dead-letter queue at once.
`TransientError` may succeed later: the message is left for redelivery.
"""

from __future__ import annotations


class InvalidMessage(Exception):
    """A message that can never be processed (poison).

    `reason` is a short code, `path` the JSON path of the offending field and `validator` the
    rule it broke: none of them holds a value from the message, so they are what logs and DLQ
    attributes carry. `detail` is for the producer's developer and may quote the bad value
    (a jsonschema message does): it never leaves the process that raised it.
    """

    def __init__(self, reason: str, detail: str = "", *, path: str = "", validator: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.path = path
        self.validator = validator
        super().__init__(f"{reason}: {detail}" if detail else reason)

    @property
    def where(self) -> str:
        """Where the message broke the rules, without any of its values: `payload/email (format)`."""
        rule = f" ({self.validator})" if self.validator else ""
        return f"{self.path or '(message)'}{rule}"

    def value_free(self) -> InvalidMessage:
        """The same error without `detail`: fit to cross a process boundary (a task's failure is
        logged, stored in the result backend and in `FailedTask`), where `detail` must not go."""
        return type(self)(self.reason, self.where, path=self.path, validator=self.validator)


class InvalidEvent(InvalidMessage):
    """An envelope that breaks the event contract."""


class TransientError(Exception):
    """A failure that may go away by itself (broker down, timeout)."""
