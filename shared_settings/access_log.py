"""gunicorn's access log line, at about half its cost per request (docker/gunicorn.conf.py).

gunicorn's `Logger.atoms` copies every request header, response header and environ variable of
each request into the line's atoms (`%({name}i)s`, `%({name}o)s`, `%({name}e)s`), and escapes
them all, whatever `access_log_format` names: most of the access log's CPU on a cache hit
(`python -m bench._hit_layers service_access_log service_fast_access_log`). `AccessLogger` gives
gunicorn's own `atoms` nothing to copy when the format names none of those: the same line, with
the same atoms and escaping, from gunicorn's own code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from typing import Any

from gunicorn import glogging

#: An atom of `access_log_format` that is a request header, response header or environ variable.
_COPIED_ATOM = re.compile(r"%\(\{[^}]*\}[ioe]\)")


@lru_cache(maxsize=8)
def _names_copied_atoms(access_log_format: str) -> bool:
    return _COPIED_ATOM.search(access_log_format) is not None


class _Lookups:
    """The environ for gunicorn's `atoms`: its named keys, and no items to copy."""

    __slots__ = ("environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self.environ = environ

    def get(self, key: str, default: Any = None) -> Any:
        return self.environ.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.environ[key]

    def items(self) -> tuple[()]:
        return ()


class _StatusAndLength:
    """The response for gunicorn's `atoms`: its status and length, and no headers to copy."""

    __slots__ = ("sent", "status")
    headers = ()

    def __init__(self, response: Any) -> None:
        self.status = response.status
        self.sent = getattr(response, "sent", None)


class AccessLogger(glogging.Logger):
    """gunicorn's logger; each access line built without copying what its format does not name."""

    def atoms(
        self, resp: Any, req: Any, environ: Mapping[str, Any], request_time: timedelta
    ) -> dict[str, Any]:
        if _names_copied_atoms(self.cfg.access_log_format):
            return super().atoms(resp, req, environ, request_time)
        return super().atoms(_StatusAndLength(resp), (), _Lookups(environ), request_time)
