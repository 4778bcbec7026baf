"""`?format=csv` for the reports API, and a content negotiation that answers 400 to an unknown format."""

from __future__ import annotations

import csv
import io
from typing import Any

from rest_framework import renderers
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation

#: A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, prefixed with `'` so it reads as text
    (OWASP); numbers stay numbers. Department names come from the monolith's users: untrusted."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class CSVRenderer(renderers.BaseRenderer):
    """A list of flat objects as CSV; the header is the union of their keys in first-seen order.
    Every text cell is neutralised against formula injection."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        rows = data if isinstance(data, list) else [data]
        header: list[str] = []
        for row in rows:
            header.extend(key for key in row if key not in header)
        out = io.StringIO()
        # CRLF (RFC 4180): the writer then quotes any cell holding a CR or LF, which a bare "\n"
        # terminator left unquoted, so a department name with a CR split its row in two.
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
        writer.writerow({key: neutralised(key) for key in header})
        writer.writerows({key: neutralised(value) for key, value in row.items()} for row in rows)
        return out.getvalue().encode(self.charset)


class StrictFormatNegotiation(DefaultContentNegotiation):
    """DRF answers an unknown `?format=` with 404; a bad query parameter is the client's input error."""

    def select_renderer(self, request, renderers, format_suffix=None):
        requested = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        known = [renderer.format for renderer in renderers]
        if requested and requested not in known:
            raise ValidationError(
                {"format": [f"Unknown format '{requested}'; use one of: {', '.join(known)}."]}
            )
        return super().select_renderer(request, renderers, format_suffix)
