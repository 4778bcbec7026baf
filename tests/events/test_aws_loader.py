"""botocore's service models are read once per process: every client's own session shares one
data loader (events/aws.py)."""

from __future__ import annotations

import threading

import pytest
from botocore.loaders import JSONFileLoader

from events.aws import AwsSettings, client

SETTINGS = AwsSettings(endpoint_url="http://127.0.0.1:9", access_key_id="test", secret_access_key="test")


@pytest.fixture
def model_files_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read: list[str] = []
    original = JSONFileLoader.load_file

    def spy(self: JSONFileLoader, file_path: str) -> object:
        read.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(JSONFileLoader, "load_file", spy)
    return read


def test_a_later_client_reads_no_model_file(model_files_read: list[str]):
    client("sns", SETTINGS), client("sqs", SETTINGS)
    model_files_read.clear()

    sns, sqs = client("sns", SETTINGS), client("sqs", SETTINGS)

    assert model_files_read == []
    assert "Publish" in sns.meta.service_model.operation_names
    assert "ReceiveMessage" in sqs.meta.service_model.operation_names


def test_clients_share_one_loader_whose_search_paths_do_not_grow():
    first = client("sqs", SETTINGS)
    paths = list(first._loader.search_paths)

    later = [client(service, SETTINGS) for service in ("sqs", "sns", "sqs")]

    assert all(each._loader is first._loader for each in later)
    assert first._loader.search_paths == paths
    assert len(set(paths)) == len(paths)


def test_clients_made_in_threads_keep_their_own_session_and_credentials():
    made: dict[int, str] = {}

    def make(number: int) -> None:
        settings = AwsSettings(
            endpoint_url=SETTINGS.endpoint_url, access_key_id=f"key{number}", secret_access_key="test"
        )
        made[number] = client("sqs", settings)._request_signer._credentials.access_key

    threads = [threading.Thread(target=make, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert made == {number: f"key{number}" for number in range(6)}
