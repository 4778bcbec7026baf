"""`manage.py users dlq list|show|redrive|purge`: filters, and the queue left consistent after each."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import receive_all
from tests.events.bridge.helpers import queue_depth


def dlq(*args: str) -> str:
    out = StringIO()
    call_command("dlq", *args, stdout=out)
    return out.getvalue()


def listed(*filters: str) -> list[dict]:
    return [json.loads(line) for line in dlq("list", "--json", *filters).splitlines()]


def test_list_shows_every_dead_letter_with_its_reason_and_leaves_them_there(sqs, topology, dead_letters):
    assert sorted(entry["reason"] for entry in listed()) == sorted(dead_letters)
    assert queue_depth(sqs, topology.dlq_url) == 3  # browsing removes nothing
    assert sorted(entry["reason"] for entry in listed()) == sorted(dead_letters)  # and hides nothing
    table = dlq("list")
    assert "3 dead letter(s)" in table
    assert "unknown_schema_version" in table


def test_list_filters_by_reason_and_event_type(dead_letters):
    assert [e["reason"] for e in listed("--reason", "bad_json")] == ["bad_json"]
    assert [e["reason"] for e in listed("--event-type", "user.deactivated")] == ["unroutable"]
    assert listed("--reason", "too_large") == []


def test_list_prints_what_the_bridge_recorded_but_never_the_body_or_the_receipt_handle(dead_letters):
    [entry] = listed("--reason", "bad_json")
    assert list(entry) == [
        "message_id",
        "reason",
        "detail",
        "event_type",
        "event_id",
        "source_message_id",
        "sent_at",
        "receive_count",
    ]


def test_show_prints_the_body_and_the_reason(dead_letters):
    [entry] = listed("--reason", "bad_json")
    shown = json.loads(dlq("show", entry["message_id"]))
    assert shown["body"] == dead_letters["bad_json"]
    assert shown["reason"] == "bad_json"
    assert shown["detail"]


def test_show_unknown_id_is_a_command_error(dead_letters):
    with pytest.raises(CommandError, match="no dead letter"):
        dlq("show", "no-such-id")


def test_redrive_by_reason_moves_only_those_back_to_the_main_queue(sqs, topology, dead_letters):
    assert "redriven: 1, failed: 0" in dlq("redrive", "--reason", "unroutable")

    [back] = receive_all(sqs, topology.queue_url)
    assert back["Body"] == dead_letters["unroutable"]
    assert sorted(e["reason"] for e in listed()) == ["bad_json", "unknown_schema_version"]


def test_purge_needs_a_filter_or_all(sqs, topology, dead_letters):
    with pytest.raises(CommandError, match="needs a filter"):
        dlq("purge")
    assert queue_depth(sqs, topology.dlq_url) == 3

    assert "purged: 1" in dlq("purge", "--id", listed("--reason", "bad_json")[0]["message_id"])
    assert sorted(e["reason"] for e in listed()) == ["unknown_schema_version", "unroutable"]
    assert "purged: 2" in dlq("purge", "--all")
    assert queue_depth(sqs, topology.dlq_url) == 0
