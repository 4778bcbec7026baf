"""LocalStack (SNS and SQS only) natively, without Docker, in a venv of its own.

`localstack-core[runtime]==4.13.1` is the newest release that runs on Python
3.11 (4.14+ needs 3.12 syntax and fails at the first SNS call although its
health check says ready); compose pins the 4.13.1 image for its own reason
(images from 2026.3 on ask for an auth token), see docs/emulators.md. Its runtime
extra pins boto3 and ~110 packages, so it lives in `.venv-localstack`, apart from
the project's venv.

    python -m devstack.localstack          # install if needed, run on 127.0.0.1:4566 until Ctrl-C
    python -m devstack.localstack --port 0 # on a free port (printed)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import botocore.exceptions

from devstack.processes import ManagedProcess, free_port
from events.aws import AwsSettings, client

BASE_DIR = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("LOCALSTACK_VENV", BASE_DIR / ".venv-localstack"))
PINS = [
    "localstack-core[runtime]==4.13.1",
    "cbor2<6",
    "pyopenssl==25.1.0",
    "cryptography>=45,<46",
    "service-identity",
]
DEFAULT_PORT = 4566


def python() -> Path:
    return VENV / "bin" / "python"


def filesystem_root() -> Path:
    return VENV / "fs"


def _runtime_env(port: int) -> dict[str, str]:
    fs = filesystem_root()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))}
    env.update(
        SERVICES="sns,sqs",
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        LOCALSTACK_HOST=f"127.0.0.1:{port}",
        OVERRIDE_IN_DOCKER="0",
        FILESYSTEM_ROOT=str(fs),
        XDG_CACHE_HOME=str(fs / "xdg-cache"),
        SKIP_SSL_CERT_DOWNLOAD="1",
        DISABLE_EVENTS="1",
        DNS_ADDRESS="0",
        SQS_ENDPOINT_STRATEGY="path",
    )
    return env


def ensure_installed() -> Path:
    """Create `.venv-localstack` with the pinned LocalStack and pre-build its service catalogue."""
    marker = VENV / ".installed"
    if marker.exists():
        return python()
    print(f"devstack: installing LocalStack into {VENV} (once, a few minutes)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS], check=True
    )
    (filesystem_root() / "usr" / "lib" / "localstack").mkdir(parents=True, exist_ok=True)
    # Without this the server builds the catalogue at its first call (+3.5 s, +360 MB).
    subprocess.run(
        [str(python()), "-m", "localstack.aws.spec"],
        env=_runtime_env(DEFAULT_PORT),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    marker.touch()
    return python()


def localstack_answers(port: int) -> bool:
    """Ready means a real call works: the health endpoint says ready before SNS/SQS do."""
    settings = AwsSettings(
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id="test",
        secret_access_key="test",
        connect_timeout=0.5,
        read_timeout=2,
        max_attempts=1,
    )
    try:
        client("sqs", settings).list_queues()
        return True
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
        return False


class LocalStackServer(ManagedProcess):
    def __init__(self, port: int = DEFAULT_PORT, log_dir: Path | None = None) -> None:
        super().__init__(
            f"localstack-{port}",
            [str(python()), "-m", "localstack.runtime.main"],
            log_dir=log_dir or BASE_DIR / "var" / "log",
            env=_runtime_env(port),
        )
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def aws_settings(self) -> AwsSettings:
        """Client settings for this server (LocalStack accepts any credentials)."""
        return AwsSettings(endpoint_url=self.url, access_key_id="test", secret_access_key="test")

    def start(self) -> LocalStackServer:
        # A second instance on a taken port claims "Ready." and ignores SIGTERM: check first.
        self.refuse_taken_port(self.port)
        ensure_installed()
        self.start_until_ready(lambda: localstack_answers(self.port), timeout=60, interval=0.2)
        return self


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="LocalStack (SNS, SQS) natively, until Ctrl-C or SIGTERM.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    port = parser.parse_args(argv).port or free_port()
    server = LocalStackServer(port)
    # LocalStack runs in its own session: without this, SIGTERM would leave it running orphaned.
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    server.start()
    print(f"LocalStack (sns, sqs) ready on {server.url}; Ctrl-C stops it", flush=True)
    try:
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _stop_like_ctrl_c(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
