"""The compose LocalStack init script creates the topology with the project's own module, run by
LocalStack's own Python (here the native `.venv-localstack`, in compose the image's venv)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from devstack.localstack import LocalStackServer, python
from events.aws import AwsSettings
from events.topology import TopologyNames, ensure_topology
from tests.conftest import receive_all

pytestmark = pytest.mark.localstack
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "localstack" / "init" / "ready.d" / "10-topology.sh"


def run_init_script(server: LocalStackServer, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT)],
        env={
            "PATH": os.environ["PATH"],
            "LOCALSTACK_PYTHON": str(python()),
            "HR_EVENTS_PATH": str(ROOT),
            "AWS_ENDPOINT_URL": server.url,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_init_script_creates_the_topology_the_services_expect(aws: AwsSettings, sns, sqs, localstack_server):
    result = run_init_script(localstack_server, EVENTS_MAX_RECEIVE_COUNT="7")
    assert result.returncode == 0, result.stderr
    assert "topology ready" in result.stdout

    # What the services compute at start-up finds exactly what the script made, and changes nothing.
    expected = ensure_topology(sns, sqs, TopologyNames(max_receive_count=7))
    assert expected.topic_arn in result.stdout
    assert len(sns.list_subscriptions_by_topic(TopicArn=expected.topic_arn)["Subscriptions"]) == 1
    attributes = sqs.get_queue_attributes(QueueUrl=expected.queue_url, AttributeNames=["RedrivePolicy"])
    redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
    assert (redrive["deadLetterTargetArn"], int(redrive["maxReceiveCount"])) == (expected.dlq_arn, 7)

    sns.publish(TopicArn=expected.topic_arn, Message='{"hello": 1}')
    [message] = receive_all(sqs, expected.queue_url)
    assert json.loads(json.loads(message["Body"])["Message"]) == {"hello": 1}


def test_init_script_takes_the_names_from_the_environment(aws, sqs, localstack_server):
    result = run_init_script(localstack_server, EVENTS_QUEUE_NAME="renamed-queue")
    assert result.returncode == 0, result.stderr
    assert sqs.get_queue_url(QueueName="renamed-queue")["QueueUrl"].endswith("/renamed-queue")


def test_init_script_fails_loudly_when_localstack_is_unreachable(localstack_server):
    from devstack.processes import free_port

    result = run_init_script(
        localstack_server, AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", AWS_MAX_ATTEMPTS="1"
    )
    assert result.returncode != 0
    assert "Could not connect" in result.stderr
