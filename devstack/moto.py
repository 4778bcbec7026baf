"""The moto server (SNS/SQS emulator) as a child process."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from devstack.processes import ManagedProcess


def moto_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/data.json", timeout=0.5) as r:
            return r.status == 200
    except OSError:
        return False


class MotoServer(ManagedProcess):
    def __init__(self, port: int, log_dir: Path) -> None:
        super().__init__(
            f"moto-{port}",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            log_dir=log_dir,
        )
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self.refuse_taken_port(self.port)
        self.start_until_ready(lambda: moto_answers(self.port), timeout=30)
        return self
