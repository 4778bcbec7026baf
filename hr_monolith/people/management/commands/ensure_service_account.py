"""`manage.py hr ensure_service_account users-service --token-from MONOLITH_API_TOKEN`: the account
another service reads the API with, its token taken from an environment variable (never argv,
which `ps` shows)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from hr_monolith.people.service_accounts import ServiceAccountError, service_account_ensure
from shared_settings.env import env


class Command(BaseCommand):
    help = (
        "Create or repair a read-only API account whose token is the value of an environment variable "
        "(idempotent; the migrate step runs it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--token-from", required=True, metavar="VARIABLE", help="Environment variable holding the token."
        )
        parser.add_argument(
            "--permission",
            action="append",
            default=[],
            metavar="APP.CODENAME",
            help="A permission the account holds (repeatable); it holds no other.",
        )

    def handle(self, *args, username: str, token_from: str, permission: list[str], **options):
        try:
            token = env.str(token_from)
        except ImproperlyConfigured as exc:
            raise CommandError(f"{token_from} is not set") from exc
        try:
            service_account_ensure(username=username, token=token, permissions=permission)
        except ServiceAccountError as exc:
            raise CommandError(f"{username}: {exc} ({token_from})") from exc
        granted = f", may {', '.join(permission)}" if permission else ""
        self.stdout.write(f"account {username} ready (read-only{granted}, token from {token_from})")
