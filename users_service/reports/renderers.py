"""`?format=csv` for the reports API, and a content negotiation that answers 400 to an unknown format."""

from __future__ import annotations

import csv
import io
from typing import Any

from rest_framework import renderers
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation


class CSVRenderer(renderers.BaseRenderer):
    """A list of flat objects as CSV; the header is the union of their keys in first-seen order."""

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
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
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
