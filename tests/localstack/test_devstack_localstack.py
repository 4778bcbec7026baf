"""`make localstack` (python -m devstack.localstack): starts SNS/SQS only, and stops with its parent."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from devstack.localstack import BASE_DIR, LocalStackServer, localstack_answers
from devstack.processes import free_port, port_open, wait_until
from events.aws import client

pytestmark = pytest.mark.localstack


def test_sigterm_stops_localstack_too():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.localstack", "--port", str(port)],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "ready on" in process.stdout.readline()
        assert localstack_answers(port)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert not port_open(port)
    finally:
        if process.poll() is None:
            process.kill()


def test_only_sns_and_sqs_are_served(localstack_server: LocalStackServer):
    settings = localstack_server.aws_settings()
    assert client("sqs", settings).list_queues() is not None
    assert client("sns", settings).list_topics() is not None
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client("s3", settings, retries={"max_attempts": 1}).list_buckets()
    assert "Service 's3' is not enabled" in str(refused.value)


def test_a_taken_port_is_refused_before_starting(localstack_server: LocalStackServer, tmp_path):
    with pytest.raises(RuntimeError, match="taken"):
        LocalStackServer(localstack_server.port, log_dir=tmp_path).start()
    wait_until(lambda: localstack_answers(localstack_server.port), timeout=5, what="the first LocalStack")
