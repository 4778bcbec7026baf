"""One event followed across the real processes: the caller's trace id is in every process's log
lines about the event, and `manage.py users trace` shows its hops from the monolith's outbox
(over HTTP), the bridge's hand-off record and the inbox."""

from __future__ import annotations

import json

import pytest

from devstack.stack import manage
from events.tracecontext import TraceParent

pytestmark = pytest.mark.e2e

CALLER = TraceParent.parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
PERSON = {"email": "mary.jackson@example.com", "first_name": "Maryanne", "last_name": "Jacksonby"}


def json_lines(process) -> list[dict]:
    lines = []
    for text in process.log_path.read_text(errors="replace").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def of_event(process, event_id: str) -> list[dict]:
    return [line for line in json_lines(process) if line.get("event_id") == event_id]


def test_one_event_is_followed_hop_by_hop_across_the_processes(stack):
    created = stack.hr("POST", "/api/users/", json=PERSON, headers={"traceparent": str(CALLER)})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    stack.wait_for(
        lambda: stack.users("GET", f"/api/users/{user_id}/").status_code == 200,
        what="the user in the users service",
    )

    (written,) = [
        line
        for line in json_lines(stack.processes["hr-web"])
        if line.get("trace_id") == CALLER.trace_id and "written" in line.get("event", "")
    ]
    event_id = written["event_id"]
    assert written["user_id"] == user_id
    hops = {
        "hr-relay": "published",
        "users-bridge": "handed to the broker",
        "users-worker": "applied",
    }
    stack.wait_for(
        lambda: all(of_event(stack.processes[name], event_id) for name in hops),
        what="every process's log line about the event",
    )
    for name, fragment in hops.items():
        lines = of_event(stack.processes[name], event_id)
        assert any(fragment in line["event"] for line in lines), (name, lines)
        assert {line["trace_id"] for line in lines} == {CALLER.trace_id}, (name, lines)
        assert {line.get("user_id") for line in lines} == {user_id}, (name, lines)
    assert all(
        line.get("task_id") == f"{event_id}:directory.apply_user_event"
        for line in of_event(stack.processes["users-worker"], event_id)
    )
    for process in stack.processes.values():
        text = process.log_path.read_text(errors="replace")
        for personal in PERSON.values():
            assert personal not in text, process.name

    timeline = json.loads(manage("users", "trace", event_id, "--json", env=stack.env, capture=True))
    names = [hop["name"] for hop in timeline["hops"]]
    assert names[:5] == ["created", "written", "published", "received", "handed over"], timeline
    assert names[-1] == "applied", timeline
    assert timeline["trace_id"] == CALLER.trace_id
    assert timeline["notes"] == []
    assert all(hop["since_previous_ms"] is not None for hop in timeline["hops"][1:])
