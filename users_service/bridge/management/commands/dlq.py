"""`manage.py users dlq list|show|redrive|purge`: look into the dead-letter queue and act on it."""

from __future__ import annotations

import json
import signal

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError

from events.bridge.dlq import DeadLetterFilter
from users_service.bridge.wiring import dead_letter_queue


def add_filters(parser) -> None:
    parser.add_argument("--reason", action="append", default=[], help="Only this reason (repeatable).")
    parser.add_argument(
        "--event-type", action="append", default=[], help="Only this event type (repeatable)."
    )
    parser.add_argument(
        "--id", dest="ids", action="append", default=[], help="Only this message id (repeatable)."
    )
    parser.add_argument("--limit", type=int, default=1000, help="Look at most at this many messages.")


class Command(BaseCommand):
    help = "Browse the dead-letter queue, redrive messages to the main queue, or purge them."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="list|show|redrive|purge")
        listing = actions.add_parser("list", help="One line per dead letter: id, reason, event type, age.")
        add_filters(listing)
        listing.add_argument("--json", action="store_true", help="JSON lines instead of a table.")
        show = actions.add_parser("show", help="Everything about one dead letter, body included.")
        show.add_argument("message_id")
        for name, what in (("redrive", "Send back to the main queue"), ("purge", "Delete for good")):
            action = actions.add_parser(name, help=f"{what} the matching dead letters.")
            add_filters(action)
            action.add_argument("--all", action="store_true", help="Needed when no filter is given.")

    def handle(self, *args, action: str, **options):
        # The work is short and each step leaves SQS consistent: a SIGTERM simply ends it
        # (browsed messages become visible again after their hold).
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            queue = dead_letter_queue()
            if action == "show":
                return self._show(queue, options["message_id"])
            where = DeadLetterFilter(
                reasons=frozenset(options["reason"]),
                event_types=frozenset(options["event_type"]),
                message_ids=frozenset(options["ids"]),
            )
            if action == "list":
                return self._list(queue, where, options["limit"], as_json=options["json"])
            if where.empty and not options["all"]:
                raise CommandError(f"{action} needs a filter (--reason, --event-type, --id) or --all")
            if action == "redrive":
                result = queue.redrive(where, limit=options["limit"])
                self.stdout.write(f"redriven: {len(result.redriven)}, failed: {len(result.failed)}")
                for message_id in result.failed:
                    self.stderr.write(f"not redriven: {message_id}")
            else:
                purged = queue.purge(where, limit=options["limit"])
                self.stdout.write(f"purged: {len(purged)}")
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"SQS: {exc}") from exc
        except KeyboardInterrupt as exc:
            raise CommandError("interrupted") from exc

    def _list(self, queue, where: DeadLetterFilter, limit: int, *, as_json: bool) -> None:
        letters = queue.browse(where, limit=limit)
        for letter in letters:
            if as_json:
                self.stdout.write(json.dumps(letter.summary()))
            else:
                sent = f"{letter.sent_at:%Y-%m-%d %H:%M:%S}" if letter.sent_at else "?"
                self.stdout.write(
                    f"{letter.message_id}  {letter.reason:<24} {letter.event_type or '-':<24} {sent}  "
                    f"{letter.detail[:60]}"
                )
        if not as_json:
            self.stdout.write(f"{len(letters)} dead letter(s)")

    def _show(self, queue, message_id: str) -> None:
        found = queue.browse(DeadLetterFilter(message_ids=frozenset({message_id})))
        if not found:
            raise CommandError(f"no dead letter {message_id}")
        letter = found[0]
        self.stdout.write(json.dumps(letter.summary() | {"body": letter.body}, indent=2))
