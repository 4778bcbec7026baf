"""No import loop between the parts of the users service (its apps and top-level modules).

Imports are read with `ast`, so an import inside a function (a lazy one) counts like any
other: it is a dependency all the same. Management commands and migrations sit on top of
everything and are left out, as is the package's `__init__` (it only loads the Celery app).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _parts_of(path: Path, package: str) -> str | None:
    relative = path.relative_to(ROOT / package)
    if relative.parts == ("__init__.py",) or {"migrations", "management"} & set(relative.parts):
        return None
    return relative.parts[0].removesuffix(".py")


def _imported_parts(tree: ast.AST, package: str) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == package:  # `from users_service import cache_keys`
                names = [f"{package}.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        else:
            continue
        for name in names:
            dotted = name.split(".")
            if dotted[0] == package and len(dotted) > 1:
                yield dotted[1]


def import_graph(package: str) -> dict[str, set[str]]:
    """{part: the other parts it imports} for the apps and modules of `package`."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        part = _parts_of(path, package)
        if part is None:
            continue
        imported = set(_imported_parts(ast.parse(path.read_text()), package)) - {part}
        graph.setdefault(part, set()).update(imported)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop, as the parts along it (first == last), or None."""
    done: set[str] = set()

    def visit(part: str, path: list[str]) -> list[str] | None:
        if part in path:
            return [*path[path.index(part) :], part]
        if part in done:
            return None
        for imported in sorted(graph.get(part, ())):
            if cycle := visit(imported, [*path, part]):
                return cycle
        done.add(part)
        return None

    for part in sorted(graph):
        if cycle := visit(part, []):
            return cycle
    return None


def test_the_parts_of_the_users_service_import_each_other_without_a_loop():
    graph = import_graph("users_service")
    assert {"directory", "reports", "ops", "task_policy", "queues"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


@pytest.mark.parametrize("lazy", [False, True])
def test_a_loop_is_found_even_through_an_import_inside_a_function(tmp_path, monkeypatch, lazy):
    package = tmp_path / "shop"
    (package / "orders").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "orders" / "__init__.py").write_text("")
    (package / "orders" / "services.py").write_text("from shop.billing import charge\n")
    body = "    from shop.orders import services\n" if lazy else ""
    (package / "billing.py").write_text(
        ("" if lazy else "from shop.orders import services\n") + f"def charge():\n{body}    return 1\n"
    )
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)

    assert find_cycle(import_graph("shop")) == ["billing", "orders", "billing"]
