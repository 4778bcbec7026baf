"""Reconciliation against a real monolith server process: drift in the read model is found and repaired."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from django.core.management import CommandError, call_command

from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.stack import BASE_DIR, MANAGE, ensure_admin, manage, stack_env
from events import types
from events.envelope import Envelope
from users_service.directory import repair, selectors
from users_service.directory.apis import TombstoneOutput, UserOutput
from users_service.directory.models import UserRecord
from users_service.directory.repair import RepairOutcome
from users_service.directory.services import apply_user_event
from users_service.reports import services
from users_service.reports.models import ReportRun
from users_service.reports.reconciliation import reconcile, upstream_users


@dataclass
class Monolith:
    url: str
    token: str

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(
            method, self.url + path, headers={"Authorization": f"Token {self.token}"}, timeout=10, **kwargs
        )
        response.raise_for_status()
        return response

    def users(self) -> list[dict]:
        return self.call("GET", "/api/users/", params={"limit": 1000}).json()["results"]


@pytest.fixture(scope="module")
def monolith(tmp_path_factory) -> Iterator[Monolith]:
    """`manage.py hr runserver` on a free port with its own SQLite database."""
    workdir = tmp_path_factory.mktemp("monolith")
    env = stack_env(aws_endpoint="http://127.0.0.1:9", redis_url="redis://127.0.0.1:9", VAR_DIR=str(workdir))
    env.pop("DATABASE_URL", None)
    manage("hr", "migrate", "--noinput", env=env)
    token = ensure_admin("hr", username="admin", password="pw", env=env)
    port = free_port()
    server = ManagedProcess(
        "hr-web",
        [*MANAGE, "hr", "runserver", f"127.0.0.1:{port}", "--noreload"],
        log_dir=workdir,
        env=env,
        cwd=BASE_DIR,
    ).start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url + "/health/"), timeout=30, what="monolith")
        monolith = Monolith(url, token)
        for code in ("ENG", "SALES"):
            monolith.call("POST", "/api/departments/", json={"code": code, "name": code.title()})
        yield monolith
    finally:
        server.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


@pytest.fixture
def upstream(settings, monolith):
    settings.MONOLITH_URL = monolith.url
    settings.MONOLITH_API_TOKEN = monolith.token
    settings.RECONCILIATION_PAGE_SIZE = 5  # several pages
    return monolith


def event_from(representation: dict, event_type: str = types.USER_CREATED) -> dict:
    """The event the monolith would have published for this state (same payload fields)."""
    payload = {k: v for k, v in representation.items() if k != "version"}
    if event_type == types.USER_ERASED:
        payload = {"id": representation["id"]}
    return (
        Envelope(
            event_type=event_type,
            aggregate_type="user",
            aggregate_id=representation["id"],
            aggregate_version=representation["version"],
            producer="hr_monolith",
            payload=payload,
        )
        .validate()
        .to_dict()
    )


def deliver(representation: dict, event_type: str = types.USER_CREATED) -> None:
    apply_user_event(envelope=event_from(representation, event_type), task_name="directory.apply_user_event")


def read_model() -> dict[str, dict]:
    return {
        str(record.id): {k: v for k, v in UserOutput(record).data.items() if k != "erased"}
        for record in selectors.user_list()
    }


def test_reconciliation_repairs_missing_stale_corrupted_and_erased_users(db, upstream):
    users = [
        upstream.call(
            "POST",
            "/api/users/",
            json={
                "email": f"rec{i}-{free_port()}@example.com",
                "first_name": f"First{i}",
                "last_name": f"Last{i:02d}",
                "department": "ENG" if i % 2 else "SALES",
                "start_date": f"2025-0{1 + i % 9}-01",
            },
        ).json()
        for i in range(12)
    ]
    for user in users[:10]:
        deliver(user)  # the events of users 10 and 11 are lost
    patched = upstream.call("PATCH", f"/api/users/{users[2]['id']}/", json={"last_name": "Renamed"}).json()
    assert patched["version"] == 2  # its event is lost: the read model keeps version 1
    UserRecord.objects.filter(pk=users[3]["id"]).delete()  # a row lost
    UserRecord.objects.filter(pk=users[4]["id"]).update(email="corrupt@example.com", department="HR")
    moved = upstream.call("PATCH", f"/api/users/{users[5]['id']}/", json={"department": "SALES"}).json()
    assert (users[5]["department"], moved["version"]) == ("ENG", 2)
    deliver(moved, types.USER_UPDATED)
    UserRecord.objects.filter(pk=users[5]["id"]).update(version=1, department="ENG")  # rolled back
    upstream.call("DELETE", f"/api/users/{users[6]['id']}/")  # erased, its event lost
    upstream.call("DELETE", f"/api/users/{users[7]['id']}/")
    deliver(users[7] | {"version": 2}, types.USER_ERASED)  # erased, and we know it
    # Users created by other tests in this module are there too: the read model has never seen them.
    others = {user["id"] for user in upstream.users()} - {user["id"] for user in users}

    run = services.report_run(name="reconciliation", period="2026-11-23")

    upstream_state = {user["id"]: user for user in upstream.users()}
    assert read_model() == upstream_state
    for erased in (users[6]["id"], users[7]["id"]):
        tombstone = UserRecord.objects.get(pk=erased)
        assert TombstoneOutput(tombstone).data["erased"] is True
        assert (tombstone.email, tombstone.department) == ("", None)
    assert run.status == ReportRun.Status.SUCCEEDED
    assert run.figures == {
        "upstream_users": 10 + len(others),
        "created": 3 + len(others),  # users 3, 10, 11
        "updated": 2,  # users 2, 5
        "corrected": 1,  # user 4
        "erased": 1,  # user 6
        "skipped": 0,
        "unchanged": 4,  # users 0, 1, 8, 9
    }
    actions = {row["user_id"]: row["action"] for row in run.rows}
    assert {actions[users[i]["id"]] for i in (3, 10, 11)} == {"created"}
    assert (actions[users[2]["id"]], actions[users[5]["id"]]) == ("updated", "updated")
    assert (actions[users[4]["id"]], actions[users[6]["id"]]) == ("corrected", "erased")
    assert users[7]["id"] not in actions

    again = services.report_run(name="reconciliation", period="2026-11-23", force=True)
    assert again.pk == run.pk
    assert again.rows == []
    assert again.figures["unchanged"] == 10 + len(others)


def test_a_user_missing_from_the_pages_but_still_upstream_is_not_erased(db, upstream):
    user = upstream.call(
        "POST",
        "/api/users/",
        json={"email": f"late-{free_port()}@example.com", "first_name": "L", "last_name": "Z"},
    ).json()
    deliver(user)

    def pages_without_it(progress=None):
        # As if the user moved between pages while we paged (the listing is ordered by name).
        return (u for u in upstream_users(progress) if u["id"] != user["id"])

    result = reconcile(listing=pages_without_it)

    assert result.counts["erased"] == 0
    assert not UserRecord.objects.get(pk=user["id"]).erased


def test_repair_never_lowers_a_version_nor_resurrects_an_erased_user(db, upstream):
    user = upstream.call(
        "POST",
        "/api/users/",
        json={"email": f"keep-{free_port()}@example.com", "first_name": "K", "last_name": "A"},
    ).json()
    deliver(user | {"version": 5, "last_name": "Newer"}, types.USER_UPDATED)
    assert repair.user_repair_from_upstream(snapshot=user) is RepairOutcome.SKIPPED
    assert UserRecord.objects.get(pk=user["id"]).last_name == "Newer"

    deliver(user | {"version": 6}, types.USER_ERASED)
    assert repair.user_repair_from_upstream(snapshot=user | {"version": 9}) is RepairOutcome.SKIPPED
    assert UserRecord.objects.get(pk=user["id"]).erased


def test_monolith_unreachable_fails_the_run_and_the_command_says_so(db, settings):
    settings.MONOLITH_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CommandError, match="reconciliation for 2026-11-23 failed"):
        call_command("run_report", "reconciliation", "--period", "2026-11-23", stderr=io.StringIO())
    run = ReportRun.objects.get(report="reconciliation", period="2026-11-23")
    assert run.status == ReportRun.Status.FAILED
    assert "ConnectionError" in run.error
