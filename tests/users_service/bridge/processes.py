"""`run_bridge` as a real process against the moto server, and a TCP proxy that can hold SQS calls.

The proxy forwards bytes between the bridge and the moto server unchanged; when
`hold_deletes` is set it stops forwarding any request that is a
`DeleteMessageBatch`, so a test can catch the bridge after Redis accepted a
batch and before SQS deleted it, and kill it there. When `freeze` is set it stops
forwarding anything, either way, keeping every connection open: an emulator that
stops answering.
"""

from __future__ import annotations

import socket
import threading
import uuid
from pathlib import Path

from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.stack import BASE_DIR, MANAGE, create_topology, stack_env
from events.topology import Topology
from tests.users_service.migrated import migrated_database


def bridge_env(*, aws_endpoint: str, broker_url: str, tmp_path: Path, **extra: str) -> dict:
    """The environment of one run_bridge process, on queues of its own (the moto server is shared)."""
    suffix = uuid.uuid4().hex[:8]
    settings = {
        "VAR_DIR": str(tmp_path / "var"),
        "CELERY_BROKER_URL": broker_url,
        "EVENTS_TOPIC_NAME": f"events-{suffix}",
        "EVENTS_QUEUE_NAME": f"queue-{suffix}",
        "EVENTS_DLQ_NAME": f"dlq-{suffix}",
        "BRIDGE_WAIT_SECONDS": "1",
        "BRIDGE_METRICS_INTERVAL": "1",
        "LOG_LEVEL": "INFO",
    }
    return stack_env(aws_endpoint=aws_endpoint, redis_url=broker_url.rsplit("/", 1)[0], **(settings | extra))


def start_bridge(env: dict, tmp_path: Path, *, threads: int = 1, name: str = "bridge") -> ManagedProcess:
    # The bridge records each hand-off in the users database before it deletes from SQS.
    migrated = Path(env["VAR_DIR"]) / ".migrated"
    if not migrated.exists():
        migrated_database(env)
        migrated.parent.mkdir(parents=True, exist_ok=True)
        migrated.touch()
    process = ManagedProcess(
        name,
        [*MANAGE, "users", "run_bridge", "--threads", str(threads)],
        log_dir=tmp_path / "log",
        env=env,
        cwd=BASE_DIR,
    ).start()
    wait_until(
        lambda: "loops on" in process.log_path.read_text() or not process.running,
        timeout=30,
        what="run_bridge start",
    )
    assert process.running, process.log_tail()
    return process


def topology_for(env: dict) -> Topology:
    return create_topology(env)


class SqsProxy:
    """A byte-for-byte TCP proxy in front of the moto server."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.hold_deletes = threading.Event()
        self.held = threading.Event()
        self.freeze = threading.Event()
        self._closed = threading.Event()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed.set()
        self._server.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_bridge: bool) -> None:
        with source, target:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                if self.freeze.is_set():
                    self._closed.wait()  # nothing goes through any more, and no connection closes
                    return
                if from_bridge and self.hold_deletes.is_set() and b"DeleteMessageBatch" in data:
                    self.held.set()
                    self._closed.wait()  # never forwarded: the bridge waits on its delete
                    return
                try:
                    target.sendall(data)
                except OSError:
                    return
