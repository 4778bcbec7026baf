"""Where moto and LocalStack differ, one test each, on whichever emulator the run uses
(`make test`: moto; `make test-localstack`: LocalStack). Each difference is listed in the README."""

from __future__ import annotations

import pytest

from events.aws import client
from events.topology import TopologyNames, ensure_topology
from tests.conftest import EMULATOR

ACCOUNT = {"moto": "123456789012", "localstack": "000000000000"}


@pytest.fixture
def top(sns, sqs):
    return ensure_topology(sns, sqs, TopologyNames())


def test_account_id_in_arns_differs_so_allow_lists_come_from_the_topology(top):
    assert top.topic_arn == f"arn:aws:sns:us-east-1:{ACCOUNT[EMULATOR]}:hr-user-events"
    assert top.queue_arn == f"arn:aws:sqs:us-east-1:{ACCOUNT[EMULATOR]}:users-service-events"


def test_queue_url_shape_differs_so_urls_come_from_get_queue_url(sqs, top):
    if EMULATOR == "moto":
        expected = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT['moto']}/users-service-events"
    else:
        # SQS_ENDPOINT_STRATEGY=path: the queue lives under the emulator's own host and port.
        expected = f"{sqs.meta.endpoint_url}/queue/us-east-1/{ACCOUNT['localstack']}/users-service-events"
    assert top.queue_url == expected
    assert sqs.get_queue_url(QueueName="users-service-events")["QueueUrl"] == expected


def test_invalid_receipt_handle_is_a_partial_failure_whose_sender_fault_differs(sqs, top):
    response = sqs.delete_message_batch(
        QueueUrl=top.queue_url, Entries=[{"Id": "1", "ReceiptHandle": "not-a-receipt"}]
    )
    [failed] = response["Failed"]
    assert failed["Code"] == "ReceiptHandleIsInvalid"
    # Nothing may branch on SenderFault: the two emulators disagree about it.
    assert failed["SenderFault"] is (EMULATOR == "moto")


def test_sns_to_sqs_delivery_before_publish_returns_only_on_moto(aws, sns, top):
    raw_sqs = client("sqs", aws)  # without the fixture's long-poll hook
    sns.publish(TopicArn=top.topic_arn, Message='{"hello": 1}')
    if EMULATOR == "moto":
        # Synchronous: an immediate short poll already sees it. On LocalStack this may or may
        # not hold (delivery runs on a thread pool), which is why tests there long-poll.
        immediate = raw_sqs.receive_message(QueueUrl=top.queue_url, WaitTimeSeconds=0)
        assert len(immediate.get("Messages", [])) == 1
    else:
        waited = raw_sqs.receive_message(QueueUrl=top.queue_url, WaitTimeSeconds=5)
        assert len(waited.get("Messages", [])) == 1


def test_an_invalid_publish_batch_entry_is_refused_alone_only_on_moto(sns, top):
    """moto refuses an entry it cannot publish (here MessageStructure="raw") in `Failed` and
    publishes the rest; LocalStack 4.13.1 publishes it. The relay's per-entry retry tests need
    such a refusal, so they run on moto only (marker `moto_only`)."""
    response = sns.publish_batch(
        TopicArn=top.topic_arn,
        PublishBatchRequestEntries=[
            {"Id": "ok", "Message": "hello"},
            {"Id": "odd", "Message": "hello", "MessageStructure": "raw"},
        ],
    )
    refused = [entry["Id"] for entry in response.get("Failed", [])]
    published = sorted(entry["Id"] for entry in response["Successful"])
    if EMULATOR == "moto":
        assert (published, refused) == (["ok"], ["odd"])
    else:
        assert (published, refused) == (["odd", "ok"], [])
