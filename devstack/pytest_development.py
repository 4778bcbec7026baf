"""pytest plugin (loaded by `addopts` in pyproject.toml): the suite runs the services in
development mode with the kept secret keys (devstack/development.py). It sets them before
pytest-django imports the settings, which happens before any conftest.py is read. It also gives
the run a Prometheus multiprocess directory of its own."""

from __future__ import annotations

import os
import tempfile

import pytest

from devstack.development import development_env


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    env = development_env()
    # Always development mode: the tests speak plain HTTP, which production settings redirect.
    os.environ["DJANGO_DEBUG"] = env.pop("DJANGO_DEBUG")
    for name, value in env.items():
        os.environ.setdefault(name, value)
    # Each run counts into a directory of its own (the processes it starts inherit it): metrics
    # of an earlier run, or of another run at the same time, never show in this one's /metrics.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-")
