"""The users service caches the monolith's resources answer and serves it as is. Its API docs
describe that body with serializers of its own (a service never imports the other), so they must
declare the same fields as the monolith's."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERIALIZERS = ("GrantOutput", "ResourcesOutput")


def declared_fields(path: Path) -> dict[str, dict[str, str]]:
    """{serializer: {field: its declaration}} of the serializers named in SERIALIZERS."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name: {
            target.id: ast.unparse(statement.value)
            for statement in node.body
            if isinstance(statement, ast.Assign)
            for target in statement.targets
            if isinstance(target, ast.Name)
        }
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name in SERIALIZERS
    }


def test_users_service_documents_the_resources_body_with_the_monoliths_fields():
    monolith = declared_fields(ROOT / "hr_monolith" / "resources" / "apis.py")
    users = declared_fields(ROOT / "users_service" / "resources" / "apis.py")
    assert sorted(monolith) == sorted(SERIALIZERS)
    assert all(monolith.values())
    assert users == monolith
