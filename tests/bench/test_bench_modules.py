"""Every benchmark must at least import: a module that moved away from under one (events/samples.py
became bench/_events.py) otherwise shows only when someone runs that benchmark, as a
ModuleNotFoundError instead of a figure."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench


@pytest.mark.parametrize("name", sorted(module.name for module in pkgutil.iter_modules(bench.__path__)))
def test_the_benchmark_module_imports(name):
    importlib.import_module(f"bench.{name}")
