"""`manage.py users trace <event_id>`: one event's timeline, hop by hop, with the time between hops."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from users_service.bridge.trace import Timeline, event_timeline


def render_text(timeline: Timeline) -> list[str]:
    lines = [
        f"event {timeline.event_id} {timeline.event_type or '(type unknown)'}",
        f"trace {timeline.trace_id or '-'}  user {timeline.user_id or '-'}",
    ]
    width = max((len(hop.name) for hop in timeline.hops), default=0)
    for hop in timeline.hops:
        since = "" if hop.since_previous is None else f"+{hop.since_previous * 1000:,.1f} ms"
        lines.append(f"  {hop.name:<{width}}  {hop.at.isoformat()}  {since:>14}  {hop.detail}")
    if timeline.total_seconds is not None:
        lines.append(f"  total {timeline.total_seconds * 1000:,.1f} ms")
    lines += [f"  note: {note}" for note in timeline.notes]
    return lines


def render_json(timeline: Timeline) -> str:
    return json.dumps(
        {
            "event_id": timeline.event_id,
            "event_type": timeline.event_type,
            "trace_id": timeline.trace_id,
            "user_id": timeline.user_id,
            "hops": [
                {
                    "name": hop.name,
                    "at": hop.at.isoformat(),
                    "since_previous_ms": None if hop.since_previous is None else hop.since_previous * 1000,
                    "detail": hop.detail,
                }
                for hop in timeline.hops
            ],
            "total_ms": None if timeline.total_seconds is None else timeline.total_seconds * 1000,
            "notes": timeline.notes,
        }
    )


class Command(BaseCommand):
    help = (
        "Show one event's timeline: created and published (the monolith's outbox, over its API), "
        "received and handed over (the bridge), task started and finished, and the inbox outcome."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("event_id", help="the event's id (its envelope's event_id)")
        parser.add_argument("--json", action="store_true", help="one JSON object instead of text")

    def handle(self, *args, event_id: str, **options) -> None:
        try:
            timeline = event_timeline(event_id)
        except ValueError as exc:
            raise CommandError(f"not an event id: {event_id!r}") from exc
        if not timeline.found:
            raise CommandError(f"no record of event {timeline.event_id}: " + "; ".join(timeline.notes))
        if options["json"]:
            self.stdout.write(render_json(timeline))
        else:
            self.stdout.write("\n".join(render_text(timeline)))
