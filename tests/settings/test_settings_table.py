"""README's settings table lists every variable the services read, under the right service, with the
code's default: the one table users read cannot drift from the settings modules."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.settings.variables import REQUIRED, ROOT, Computed, service_variables

TABLE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \| (\w+) \| ([^|]*) \| ([^|]*) \|$", re.M)


def documented() -> dict[str, tuple[str, str, str]]:
    rows = TABLE_ROW.findall((ROOT / "README.md").read_text())
    table = {name: (service, default.strip(), meaning.strip()) for name, service, default, meaning in rows}
    assert len(table) == len(rows), "a variable is listed twice"
    return table


def as_documented(default: Any) -> str:
    """How the settings table writes a literal default."""
    if default is REQUIRED:
        return "required"
    if default is None:
        return "unset"
    if default in ("", []):
        return "empty"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float):
        return f"`{default:g}`"
    if isinstance(default, list):
        return f"`{','.join(default)}`"
    return f"`{default}`"


def test_the_reader_finds_the_known_names():
    """Guards the source walk: if it stopped finding names, the tests below would pass vacuously."""
    found = service_variables()
    assert {
        "HR_SECRET_KEY",
        "USERS_SECRET_KEY",
        "DJANGO_DEBUG",
        "CELERY_BROKER_URL",
        "EVENTS_TOPIC_NAME",
    } <= set(found)
    assert len(found) > 60


def test_every_variable_read_is_documented_and_every_documented_one_is_read():
    read, table = set(service_variables()), set(documented())
    assert sorted(read - table) == [], "read by the services, missing from README's settings table"
    assert sorted(table - read) == [], "in README's settings table, read by no service"


@pytest.mark.parametrize("name", sorted(service_variables()))
def test_documented_under_its_service_with_the_codes_default(name):
    services, reads = service_variables()[name]
    service, default, meaning = documented()[name]
    assert service == ("both" if services == {"hr", "users"} else services.pop())
    assert meaning
    literal = [read.default for read in reads if not isinstance(read.default, Computed)]
    for value in literal:
        assert default == as_documented(value), f"{name}: the code's default is {value!r}"
