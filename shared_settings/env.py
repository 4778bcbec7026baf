"""The typed environment reader of both services' settings: django-environ, made strict.

django-environ reads and casts; this subclass makes a bad value stop the process at start-up
with an error that names the variable and what it expected, where django-environ would raise
a bare `ValueError` or quietly take another value:
- a boolean is one of true/false, yes/no, on/off, 1/0 (django-environ reads "ture" as false);
- a number is the whole value (django-environ's float drops every other character: "1,5s" is 1.5);
- list items are stripped and empty ones dropped;
- an empty value counts as unset (compose passes `${NAME:-}` on as an empty string);
- a value is taken as written, even one starting with "$" (django-environ would read it as the
  name of another variable: a generated password or secret key may start with "$").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
#: What each cast expects, for the error message.
EXPECTED = {
    bool: "a boolean (true/false, yes/no, on/off, 1/0)",
    int: "an integer",
    float: "a number",
}
REDIS_SCHEMES = ("redis", "rediss", "unix")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _expected(cast: Any) -> str:
    if isinstance(cast, list):
        return f"a comma-separated list, each item {_expected(cast[0])}"
    return EXPECTED.get(cast, f"a {getattr(cast, '__name__', cast)}")


class Env(environ.Env):
    """`environ.Env` with the stricter parsing described in the module docstring."""

    def get_value(
        self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET, parse_default: bool = False
    ) -> Any:
        raw = self.ENVIRON.get(var, "")
        if raw.strip() == "":
            if default is self.NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable")
            if parse_default and default is not None:
                return self.parse_value(default, cast)
            return default
        try:
            return self.parse_value(raw, cast)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"{var}={raw!r} is not {_expected(cast)}") from exc

    @classmethod
    def parse_value(cls, value: Any, cast: Any) -> Any:
        if cast is bool:
            return _boolean(value)
        if cast is int:
            return int(value)
        if cast is float:
            return float(value)
        if cast is list or isinstance(cast, list):
            item = cast[0] if isinstance(cast, list) else str
            if not isinstance(value, str):
                return [item(x) for x in value]
            return [item(part.strip()) for part in value.split(",") if part.strip()]
        return super().parse_value(value, cast)

    def str(
        self,
        var: str,
        default: Any = environ.Env.NOTSET,
        multiline: bool = False,
        choices: Any = environ.Env.NOTSET,
    ) -> str:
        value = super().str(var, default=default, multiline=multiline)
        if choices is not self.NOTSET and value not in choices:
            raise ImproperlyConfigured(f"{var}={value!r} is not one of {', '.join(choices)}")
        return value

    def redis_url(self, var: str, default: str, also: tuple[str, ...] = ()) -> str:
        """A redis://, rediss:// or unix:// URL (a password goes in it: `redis://:secret@host:6379/0`),
        or one of the words in `also`.

        A rediss:// URL verifies the server's certificate unless it says otherwise: every client
        of the URL then agrees (redis-py verifies by default, kombu would not, Celery's result
        backend refuses a rediss:// URL without `ssl_cert_reqs`).
        """
        url = self.str(var, default=default)
        if url in also:
            return url
        parts = urlsplit(url)
        if parts.scheme not in REDIS_SCHEMES:
            # Not the URL itself: it may hold a password.
            words = "".join(f", {word!r}" for word in also)
            raise ImproperlyConfigured(
                f"{var} must be a redis://, rediss:// or unix:// URL{words}, not {parts.scheme or '?'}://..."
            )
        query = parse_qsl(parts.query, keep_blank_values=True)
        if parts.scheme == "rediss" and not any(name == "ssl_cert_reqs" for name, _ in query):
            url = urlunsplit(parts._replace(query=urlencode([*query, ("ssl_cert_reqs", "required")])))
        return url


#: The one reader both settings modules use.
env = Env()
