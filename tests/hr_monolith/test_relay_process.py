"""`relay_outbox` as a real process: SIGTERM finishes the batch in hand, marks it, exits 0."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devstack.processes import wait_until
from events.aws import AwsSettings, client
from events.topology import TopologyNames, ensure_topology
from shared_settings.sqlite import HR_SQLITE
from tests.conftest import receive_all

BATCH = 5


def manage(env: dict, *args: str, repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "hr", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def sent_event_ids(db: Path) -> tuple[set[str], int]:
    with sqlite3.connect(db, timeout=10) as conn:
        rows = conn.execute("SELECT event_id, sent_at FROM outbox_outboxevent").fetchall()
    return {uuid.UUID(e).hex for e, sent in rows if sent is not None}, len(rows)


def test_sigterm_finishes_the_batch_in_hand_and_exits_zero(moto_server, tmp_path, repo_root):
    suffix = uuid.uuid4().hex[:8]
    names = TopologyNames(topic=f"sigterm-{suffix}", queue=f"sigterm-{suffix}", dlq=f"sigterm-{suffix}-dlq")
    aws = AwsSettings(endpoint_url=moto_server.url, access_key_id="testing", secret_access_key="testing")
    sqs = client("sqs", aws)
    topology = ensure_topology(client("sns", aws), sqs, names)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        VAR_DIR=str(tmp_path),
        AWS_ENDPOINT_URL=moto_server.url,
        EVENTS_TOPIC_NAME=names.topic,
        EVENTS_QUEUE_NAME=names.queue,
        EVENTS_DLQ_NAME=names.dlq,
    )
    manage(env, "migrate", "-v", "0", repo=repo_root)
    manage(env, "load_demo_data", "--users", "300", repo=repo_root)
    db = tmp_path / HR_SQLITE

    relay = subprocess.Popen(
        [sys.executable, "manage.py", "hr", "relay_outbox", "--batch-size", str(BATCH)],
        cwd=repo_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: len(sent_event_ids(db)[0]) >= 2 * BATCH, timeout=60, what="relay publishing")
        relay.send_signal(signal.SIGTERM)
        out, err = relay.communicate(timeout=30)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
    assert relay.returncode == 0, err
    assert "relay stopped" in out

    sent, total = sent_event_ids(db)
    assert 0 < len(sent) < total, "SIGTERM should arrive in the middle of the backlog"
    # Whole passes only: the pass in hand was published and marked before the process left.
    assert len(sent) % BATCH == 0
    delivered = [
        uuid.UUID(json.loads(json.loads(m["Body"])["Message"])["event_id"]).hex
        for m in receive_all(sqs, topology.queue_url, max_rounds=100)
    ]
    assert sorted(delivered) == sorted(sent)


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--in-flight", "0"]])
def test_relay_outbox_refuses_nonsense_options(args):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="at least 1"):
        call_command("relay_outbox", *args)
