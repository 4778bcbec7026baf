"""State changes of the catalogue; each writes a `catalogue.changed` outbox row."""

from __future__ import annotations

from django.db import transaction

from events.envelope import Envelope
from events.types import CATALOGUE_CHANGED
from hr_monolith.catalogue.models import CATALOGUE_MODELS, CatalogueEntry
from hr_monolith.outbox.services import outbox_write, producer_name


def catalogue_changed_event(entry: CatalogueEntry, *, change: str) -> Envelope:
    """Payload builder of `catalogue.changed` (explicit fields)."""
    return Envelope(
        event_type=CATALOGUE_CHANGED,
        aggregate_type="catalogue",
        aggregate_id=f"{entry.kind}:{entry.code}",
        aggregate_version=entry.version,
        producer=producer_name(),
        payload={"kind": entry.kind, "code": entry.code, "name": entry.name, "change": change},
    )


def catalogue_entry_create(*, kind: str, code: str, name: str) -> CatalogueEntry:
    model = CATALOGUE_MODELS[kind]
    with transaction.atomic():
        entry = model(code=code, name=name, version=1)
        entry.full_clean()
        entry.save()
        outbox_write(catalogue_changed_event(entry, change="created"))
    return entry


def catalogue_entry_update(*, kind: str, code: str, name: str) -> CatalogueEntry:
    model = CATALOGUE_MODELS[kind]
    with transaction.atomic():
        entry = model.objects.select_for_update().get(code=code)
        entry.name = name
        entry.version += 1
        entry.full_clean()
        entry.save(update_fields=["name", "version", "updated_at"])
        outbox_write(catalogue_changed_event(entry, change="updated"))
    return entry
