"""Pieces of the management commands of both services."""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.conf import settings


def setting_option(
    parser: ArgumentParser, flag: str, *, setting: str, type: Callable[[str], Any], help: str
) -> None:
    """Add the option `flag`, whose default is the setting `setting`. The help names the setting:
    a value wanted on every run belongs in the environment, not in each command line."""
    parser.add_argument(
        flag, type=type, default=getattr(settings, setting), help=f"{help} (default: {setting})."
    )
