"""Catalogue entries, each identified outside the monolith by its `code`."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

#: The contract's pattern (events/schemas/envelope.json, `catalogue_code`; a test keeps them equal).
code_validator = RegexValidator(r"^[A-Za-z0-9_-]{1,32}(?!\n)$", "Use 1-32 letters, digits, '-' or '_'.")


class CatalogueEntry(models.Model):
    code = models.CharField(max_length=32, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    #: The catalogue kind as named in events and URLs.
    kind: str = ""

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"


class Department(CatalogueEntry):
    kind = "departments"


class Position(CatalogueEntry):
    kind = "positions"


class Location(CatalogueEntry):
    kind = "locations"


CATALOGUE_MODELS: dict[str, type[CatalogueEntry]] = {
    model.kind: model for model in (Department, Position, Location)
}
