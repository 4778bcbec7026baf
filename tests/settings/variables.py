"""The environment variables a module reads, found in its source (ast), with their defaults.

Shared by the settings table test (README.md) and the compose test: both must see the
same reads. A read is a call `<reader>("NAME", ...)`: the settings' `env.str/int/float/bool/
list/redis_url`, the base's `database`, and `get`/`getenv` on a mapping (events/ reads
`os.environ` through `env.get`).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shared_settings.sqlite as sqlite_files

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"[A-Z][A-Z0-9_]+")
#: Reader methods called on an object (`env.int(...)`, `os.environ.get(...)`).
METHOD_READERS = {"str", "int", "float", "bool", "list", "redis_url", "get", "getenv"}
#: Reader functions called by name.
FUNCTION_READERS = {"database"}
#: The modules each service's processes read the environment in (events/ is imported by both).
SERVICE_MODULES = {
    "hr": [
        "shared_settings/base.py",
        "hr_monolith/settings.py",
        "events/aws.py",
        "events/topology.py",
        "docker/gunicorn.conf.py",
    ],
    "users": [
        "shared_settings/base.py",
        "users_service/settings.py",
        "events/aws.py",
        "events/topology.py",
        "docker/gunicorn.conf.py",
    ],
}


@dataclass(frozen=True)
class Required:
    """The read has no default: the variable must be set."""


@dataclass(frozen=True)
class Computed:
    """The default is computed from other settings; `source` is its code."""

    source: str


REQUIRED = Required()


@dataclass(frozen=True)
class Read:
    name: str
    default: Any  # a literal value, REQUIRED, or a Computed


def _default(call: ast.Call, reader: str) -> Any:
    node = next((k.value for k in call.keywords if k.arg == "default"), None)
    if node is None and reader in ("get", "getenv", "database") and len(call.args) > 1:
        node = call.args[1]
    if node is None:
        return None if reader in ("get", "getenv") else REQUIRED
    if reader == "database":
        # The file's name is a literal or one of shared_settings.sqlite's names (HR_SQLITE, ...).
        name = getattr(sqlite_files, node.id) if isinstance(node, ast.Name) else ast.literal_eval(node)
        return Computed(f"SQLite {name} under VAR_DIR")
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if all(isinstance(n, ast.Constant | ast.BinOp | ast.operator) for n in ast.walk(node)):
        # Arithmetic on constants (7 * 24 * 3600).
        return eval(compile(ast.Expression(node), "<default>", "eval"), {"__builtins__": {}})
    return Computed(ast.unparse(node))


def reads_in(path: str | Path) -> list[Read]:
    reads = []
    for node in ast.walk(ast.parse((ROOT / path).read_text())):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in METHOD_READERS:
            reader = func.attr
        elif isinstance(func, ast.Name) and func.id in FUNCTION_READERS:
            reader = func.id
        else:
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and NAME.fullmatch(first.value):
            reads.append(Read(first.value, _default(node, reader)))
    return reads


def names_read_by(paths: list[str]) -> set[str]:
    return {read.name for path in paths for read in reads_in(path)}


def service_variables() -> dict[str, tuple[set[str], list[Read]]]:
    """Each variable the services read: which services ("hr", "users") and its reads."""
    found: dict[str, tuple[set[str], list[Read]]] = {}
    for service, paths in SERVICE_MODULES.items():
        for path in paths:
            for read in reads_in(path):
                services, reads = found.setdefault(read.name, (set(), []))
                services.add(service)
                if read not in reads:
                    reads.append(read)
    return found
