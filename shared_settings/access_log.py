"""gunicorn's access log line, at about half its cost per request, written in batches
(docker/gunicorn.conf.py).

gunicorn's `Logger.atoms` copies every request header, response header and environ variable of
each request into the line's atoms (`%({name}i)s`, `%({name}o)s`, `%({name}e)s`), and escapes
them all, whatever `access_log_format` names: most of the line's own CPU. `AccessLogger` gives
gunicorn's own `atoms` nothing to copy when the format names none of those: the same line, with
the same atoms and escaping, from gunicorn's own code.

gunicorn's handler for `accesslog = "-"` writes and flushes each line as it comes: one `write` to
stdout per request (the image runs unbuffered), which under gthread also hands the GIL to another
thread. `AccessLogger` writes them in batches instead, as nginx's `access_log ... buffer= flush=`
does (`BufferedStreamHandler`): at most `FLUSH_SECONDS` late, `MAX_PENDING_LINES` at a time, and
what is pending when the worker exits (Python's `logging.shutdown`, at exit) or when gunicorn
reopens its logs. A worker killed outright (SIGKILL, out of memory) loses at most its last
`FLUSH_SECONDS` of access lines; the error log is written as before. `python -m bench._hit_layers
service_no_access_log service_line_access_log service` compares the three under gunicorn.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from typing import Any, TextIO

from gunicorn import glogging

#: An atom of `access_log_format` that is a request header, response header or environ variable.
_COPIED_ATOM = re.compile(r"%\(\{[^}]*\}[ioe]\)")
#: The longest an access line waits in a worker before it is written.
FLUSH_SECONDS = 1.0
#: Access lines written together at most (about 8 KB: one write into a pipe's 64 KB).
MAX_PENDING_LINES = 64


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


class BufferedStreamHandler(logging.StreamHandler):
    """A stream handler that writes its lines in batches: when `max_pending` lines wait, when the
    oldest has waited `flush_seconds` (checked at each line, and by a thread of the process for a
    worker that has gone quiet), and at `flush()` (which `logging.shutdown` calls at exit)."""

    def __init__(self, stream: TextIO, *, flush_seconds: float, max_pending: int) -> None:
        super().__init__(stream)
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self.pending: list[str] = []
        self.oldest_at = 0.0
        # The process whose flushing thread runs: a forked worker starts its own.
        self._flusher_pid: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # Called under the handler's lock (Handler.handle).
        try:
            line = self.format(record) + self.terminator
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        now = time.monotonic()
        if not self.pending:
            self.oldest_at = now
            if self._flusher_pid != os.getpid():
                self._start_flusher()
        self.pending.append(line)
        if len(self.pending) >= self.max_pending or now - self.oldest_at >= self.flush_seconds:
            self._write_pending()

    def flush(self) -> None:
        with self.lock:
            self._write_pending()
            super().flush()

    def _write_pending(self) -> None:
        if not self.pending or self.stream is None:
            return
        lines, self.pending = "".join(self.pending), []
        try:
            self.stream.write(lines)
            self.stream.flush()
        except Exception:
            # As logging does for a line it cannot write: say so on stderr, go on serving.
            self.handleError(logging.makeLogRecord({"msg": "access lines lost"}))

    def _start_flusher(self) -> None:
        self._flusher_pid = os.getpid()
        threading.Thread(target=self._flush_while_alive, name="access-log-flush", daemon=True).start()

    def _flush_while_alive(self) -> None:
        pid = os.getpid()
        while self._flusher_pid == pid:
            time.sleep(self.flush_seconds)
            with self.lock:
                if self.pending and time.monotonic() - self.oldest_at >= self.flush_seconds:
                    self._write_pending()


class AccessLogger(glogging.Logger):
    """gunicorn's logger; each access line built without copying what its format does not name,
    and the lines to stdout written in batches (`BufferedStreamHandler`)."""

    def setup(self, cfg: Any) -> None:
        # gunicorn drops its handlers on a reload: not with lines still in them.
        for handler in self.access_log.handlers:
            handler.flush()
        super().setup(cfg)
        handler = self._get_gunicorn_handler(self.access_log)
        # Only gunicorn's own stdout handler (`accesslog = "-"`): a file keeps its FileHandler,
        # which gunicorn reopens on USR1.
        if cfg.accesslog == "-" and type(handler) is logging.StreamHandler:
            buffered = BufferedStreamHandler(
                handler.stream, flush_seconds=FLUSH_SECONDS, max_pending=MAX_PENDING_LINES
            )
            buffered.setFormatter(handler.formatter)
            buffered._gunicorn = True  # type: ignore[attr-defined]
            self.access_log.removeHandler(handler)
            self.access_log.addHandler(buffered)

    def reopen_files(self) -> None:
        for handler in self.access_log.handlers:
            handler.flush()
        super().reopen_files()

    def atoms(
        self, resp: Any, req: Any, environ: Mapping[str, Any], request_time: timedelta
    ) -> dict[str, Any]:
        if _names_copied_atoms(self.cfg.access_log_format):
            return super().atoms(resp, req, environ, request_time)
        return super().atoms(_StatusAndLength(resp), (), _Lookups(environ), request_time)
