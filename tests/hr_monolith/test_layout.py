"""The monolith's apps import each other in one direction only (management commands and
migrations aside): a loop between two apps makes each a part of the other."""

from __future__ import annotations

import ast
from pathlib import Path

import hr_monolith

PACKAGE = Path(hr_monolith.__file__).parent
APPS = sorted(path.parent.name for path in PACKAGE.glob("*/apps.py"))


def app_imports() -> dict[str, set[str]]:
    """For each app, the other apps its modules import."""
    graph: dict[str, set[str]] = {app: set() for app in APPS}
    for app in APPS:
        for module in (PACKAGE / app).rglob("*.py"):
            if {"management", "migrations"} & set(module.relative_to(PACKAGE / app).parts):
                continue
            for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                for name in names:
                    parts = name.split(".")
                    if parts[0] == "hr_monolith" and len(parts) > 1 and parts[1] in APPS and parts[1] != app:
                        graph[app].add(parts[1])
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found = []

    def walk(path: list[str]) -> None:
        for nxt in sorted(graph[path[-1]]):
            if nxt == path[0]:
                found.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:
                walk([*path, nxt])

    for app in APPS:
        walk([app])
    return found


def test_the_apps_are_found():
    assert set(APPS) == {"catalogue", "outbox", "people", "resources"}


def test_no_import_cycle_between_apps():
    graph = app_imports()
    assert not cycles(graph), cycles(graph)
    assert graph["outbox"] == set(), "the outbox knows no other app"
