"""Small helpers to start, wait for and stop local server processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


class ManagedProcess:
    """A child process with its output in a log file, stopped with SIGTERM then SIGKILL."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log_dir: Path,
        env: dict | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.env = env
        self.cwd = cwd
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> ManagedProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        self._log = log
        return self

    def refuse_taken_port(self, port: int) -> None:
        if port_open(port):
            raise RuntimeError(f"port {port} is taken")

    def start_until_ready(self, ready: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> None:
        """Start the process and wait until `ready()`; a process that exits first is an error with its log."""
        ManagedProcess.start(self)
        wait_until(lambda: ready() or not self.running, timeout=timeout, what=self.name, interval=interval)
        if not self.running:
            raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.running:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.process is None:
            return None
        if self.running:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(5)
        self._close_output()
        return self.process.returncode

    def _close_output(self) -> None:
        self._log.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def stop_all(processes: Sequence[ManagedProcess]) -> None:
    """SIGTERM to every process at once, then wait for each (last started first): each may take
    seconds to finish its work, and waiting for them one after the other adds those seconds up."""
    for process in processes:
        process.signal(signal.SIGTERM)
    for process in reversed(processes):
        process.stop()
