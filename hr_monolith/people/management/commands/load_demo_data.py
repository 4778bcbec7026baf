"""`manage.py hr load_demo_data`: a few catalogue entries, ~200 employees with two resource grants
each, idempotently.

Everything goes through the services, so the demo data also flows as events.
"""

from __future__ import annotations

import datetime
import random

from django.core.management.base import BaseCommand
from tqdm import tqdm

from hr_monolith.catalogue import services as catalogue
from hr_monolith.catalogue.models import CATALOGUE_MODELS
from hr_monolith.people import services as people
from hr_monolith.people.models import User
from hr_monolith.resources import services as resources
from hr_monolith.resources.models import AccessLevel

CATALOGUE = {
    "departments": [
        ("ENG", "Engineering"),
        ("HR", "Human Resources"),
        ("FIN", "Finance"),
        ("SAL", "Sales"),
        ("OPS", "Operations"),
    ],
    "positions": [
        ("ENG1", "Engineer"),
        ("ENG2", "Senior Engineer"),
        ("MGR", "Manager"),
        ("ANL", "Analyst"),
        ("DIR", "Director"),
    ],
    "locations": [("LON", "London"), ("BER", "Berlin"), ("NYC", "New York"), ("REM", "Remote")],
}
RESOURCES = ["email", "wiki", "vpn", "payroll", "crm", "git"]
LEVELS = [AccessLevel.READ, AccessLevel.WRITE]
FIRST = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Radia", "Edsger"]
LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Dijkstra",
]


class Command(BaseCommand):
    help = "Create demo catalogue entries and employees (skips what already exists)."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=200)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, users: int, seed: int, **options):
        rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not a secret
        entries = {}
        for kind, rows in CATALOGUE.items():
            model = CATALOGUE_MODELS[kind]
            for code, name in rows:
                entry = model.objects.filter(code=code).first()
                if entry is None:
                    entry = catalogue.catalogue_entry_create(kind=kind, code=code, name=name)
                entries.setdefault(kind, []).append(entry)
        existing = set(
            User.objects.filter(email__endswith="@demo.example.com").values_list("email", flat=True)
        )
        created = 0
        for i in tqdm(range(users), desc="demo users", disable=not self.stdout.isatty()):
            email = f"employee{i:04d}@demo.example.com"
            first, last = rng.choice(FIRST), rng.choice(LAST)
            dept, pos, loc = (rng.choice(entries[k]) for k in ("departments", "positions", "locations"))
            start = datetime.date(2015, 1, 1) + datetime.timedelta(days=rng.randrange(3650))
            if email in existing:
                continue
            user = people.user_create(
                email=email,
                first_name=first,
                last_name=last,
                department=dept,
                position=pos,
                location=loc,
                start_date=start,
            )
            for resource in rng.sample(RESOURCES, 2):
                resources.resource_grant(user_id=user.id, resource=resource, level=rng.choice(LEVELS))
            created += 1
        self.stdout.write(f"demo data: {created} employees created, {len(existing)} already there")
