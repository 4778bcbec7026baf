"""Real events workers for tests, brokers that stall (a fake one, and a proxy to a real Redis that
stalls at one command), and what the broker shows of their tasks: the ones a worker holds
(reserved, not acked yet)."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

import redis

from devstack.processes import ManagedProcess, wait_until
from devstack.stack import BASE_DIR, MANAGE
from users_service.queues import EVENTS


def holds_task(broker: redis.Redis, unacked_key: str, task_id: str) -> bool:
    """Whether a worker holds task `task_id`: its message waits in the worker's unacked hash
    (`unacked_key`, a queue role's transport option) from its reservation until its ack."""
    needle = f'"{task_id}"'.encode()
    return any(needle in message for message in broker.hvals(unacked_key))


def start_events_worker(name: str, env: dict, log_dir: Path) -> ManagedProcess:
    """`manage.py users run_worker events` started and ready (its log says so)."""
    worker = ManagedProcess(
        name, [*MANAGE, "users", "run_worker", EVENTS.queue], log_dir=log_dir, env=env, cwd=BASE_DIR
    ).start()
    wait_until(
        lambda: " ready." in worker.log_path.read_text() or not worker.running,
        timeout=60,
        what=f"{name} ready",
    )
    assert worker.running, worker.log_tail()
    return worker


#: A RESP3 server's answer to HELLO (redis-py's handshake).
_HELLO_REPLY = b"%3\r\n+server\r\n+redis\r\n+version\r\n+7.0.15\r\n+proto\r\n:3\r\n"


class StalledBroker:
    """A "Redis" that answers the connection's set-up and PING, then never answers anything else:
    a broker that stalls (a frozen process, a full network buffer) after a health check passed."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.server.getsockname()[1]}/0"
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    @staticmethod
    def _commands(buffer: bytes) -> tuple[list[bytes], bytes]:
        """The command names of the complete RESP arrays in `buffer`, and what is left of it."""
        names = []
        while buffer.startswith(b"*") and b"\r\n" in buffer:
            count_line, rest = buffer.split(b"\r\n", 1)
            parts = []
            for _ in range(int(count_line[1:])):
                if b"\r\n" not in rest:
                    return names, buffer
                length_line, rest = rest.split(b"\r\n", 1)
                length = int(length_line[1:])
                if len(rest) < length + 2:
                    return names, buffer
                parts.append(rest[:length])
                rest = rest[length + 2 :]
            names.append(parts[0].upper())
            buffer = rest
        return names, buffer

    def _answer(self, connection: socket.socket) -> None:
        buffer = b""
        while data := connection.recv(65536):
            names, buffer = self._commands(buffer + data)
            for name in names:
                if name == b"HELLO":
                    connection.sendall(_HELLO_REPLY)
                elif name == b"PING":
                    connection.sendall(b"+PONG\r\n")
                elif name in (b"CLIENT", b"SELECT"):
                    connection.sendall(b"+OK\r\n")
                else:
                    # The broadcast's PUBLISH, the reply queue's commands: no answer, ever.
                    return self._hold(connection)

    @staticmethod
    def _hold(connection: socket.socket) -> None:
        while connection.recv(65536):
            pass

    def close(self) -> None:
        self.server.close()
        for connection in self.connections:
            connection.close()


class StallingProxy(StalledBroker):
    """A proxy to a real Redis that passes everything through until a client sends `command` (say
    PUBLISH); from then on that connection gets no answer, ever: a broker that stalls midway, after
    the connection's set-up and the first commands went through."""

    def __init__(self, target: str, command: bytes) -> None:
        self.target = redis.Redis.from_url(target).connection_pool.connection_kwargs
        self.command = command.upper()
        self.stalled = threading.Event()
        super().__init__()

    def _answer(self, connection: socket.socket) -> None:
        upstream = socket.create_connection((self.target["host"], self.target["port"]))
        self.connections.append(upstream)
        threading.Thread(target=self._pass_back, args=(upstream, connection), daemon=True).start()
        buffer = b""
        while data := connection.recv(65536):
            names, buffer = self._commands(buffer + data)
            if self.command in names:
                self.stalled.set()
                return self._hold(connection)
            upstream.sendall(data)

    @staticmethod
    def _pass_back(upstream: socket.socket, connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                connection.sendall(data)
