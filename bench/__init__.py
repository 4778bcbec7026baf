"""Benchmarks. Each `bench/<name>.py` runs its subject and its baseline side by side and
prints one JSON object as the last line of stdout (see `bench/common.py`).

They run the services as `make run` does (development mode, the kept secret keys:
devstack/development.py) unless the caller's environment says otherwise; the cache
benchmarks ask for production mode themselves."""

import os

from devstack.development import development_env

for _name, _value in development_env().items():
    os.environ.setdefault(_name, _value)
