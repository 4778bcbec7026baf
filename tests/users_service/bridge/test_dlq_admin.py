"""The users service admin's DLQ page: browse with reasons, see a body, redrive or purge chosen messages."""

from __future__ import annotations

from tests.conftest import receive_all
from tests.events.bridge.helpers import queue_depth
from users_service.bridge.wiring import dead_letter_queue

URL = "/admin/bridge/deadletter/"


def message_id(reason: str) -> str:
    [letter] = [letter for letter in dead_letter_queue().browse() if letter.reason == reason]
    return letter.message_id


def test_admin_lists_dead_letters_with_reasons_and_filters(admin_client, dead_letters):
    page = admin_client.get(URL).content.decode()
    assert page.count('class="dead-letter"') == 3
    for reason in dead_letters:
        assert reason in page

    filtered = admin_client.get(URL, {"reason": "bad_json"}).content.decode()
    assert filtered.count('class="dead-letter"') == 1


def test_admin_shows_one_message_body(admin_client, dead_letters):
    page = admin_client.get(URL, {"id": message_id("bad_json")}).content.decode()
    assert "{not json" in page


def test_admin_redrives_the_chosen_message_only(admin_client, sqs, topology, dead_letters):
    chosen = message_id("unroutable")
    response = admin_client.post(URL, {"action": "redrive", "message_id": [chosen]})

    assert response.status_code == 302
    [back] = receive_all(sqs, topology.queue_url)
    assert back["Body"] == dead_letters["unroutable"]
    assert queue_depth(sqs, topology.dlq_url) == 2


def test_admin_purges_the_chosen_message(admin_client, sqs, topology, dead_letters):
    admin_client.post(URL, {"action": "purge", "message_id": [message_id("bad_json")]})

    assert sorted(letter.reason for letter in dead_letter_queue().browse()) == [
        "unknown_schema_version",
        "unroutable",
    ]


def test_admin_index_links_the_page(admin_client, dead_letters):
    assert URL in admin_client.get("/admin/").content.decode()


def test_staff_without_permission_cannot_see_the_page(client, django_user_model, dead_letters):
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(clerk)
    assert client.get(URL).status_code == 403
