"""On AWS (no AWS_ENDPOINT_URL, no keys in the environment) the clients take boto3's default
credential chain and AWS's own endpoints: nothing of the emulators is needed (docs/aws.md)."""

from __future__ import annotations

import botocore.credentials

from events.aws import USER_AGENT, AwsSettings, client


def test_without_an_endpoint_or_keys_the_default_chain_and_aws_endpoints_are_used(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    # What an instance role would hand out, seen by the default chain's environment provider here.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    settings = AwsSettings.from_env({"AWS_DEFAULT_REGION": "eu-west-1"})
    assert (settings.endpoint_url, settings.access_key_id) == (None, None)
    resolved: list[str] = []
    original = botocore.credentials.CredentialResolver.load_credentials

    def spy(self):
        resolved.append("chain")
        return original(self)

    monkeypatch.setattr(botocore.credentials.CredentialResolver, "load_credentials", spy)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMTHECHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-the-chain")
    sqs = client("sqs", settings)
    assert sqs.meta.endpoint_url == "https://sqs.eu-west-1.amazonaws.com"
    assert sqs._request_signer._credentials.access_key == "AKIAFROMTHECHAIN"
    assert resolved == ["chain"]


def test_emulator_keys_are_passed_only_when_set():
    settings = AwsSettings.from_env(
        {
            "AWS_ENDPOINT_URL": "http://localstack:4566",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }
    )
    sqs = client("sqs", settings)
    assert sqs.meta.endpoint_url == "http://localstack:4566"
    assert sqs._request_signer._credentials.access_key == "test"


def test_every_request_sends_the_same_prepared_user_agent(sqs):
    sent: list[str] = []
    sqs.meta.events.register(
        "before-send.sqs", lambda request, **_: sent.append(request.headers["User-Agent"])
    )
    queue_url = sqs.create_queue(QueueName="user-agent")["QueueUrl"]
    sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)

    # botocore would build the header again for each request (twice), from a dozen parts that
    # include the request's own feature codes (`m/...`).
    (header,) = {value if isinstance(value, str) else value.decode() for value in sent}
    assert header.startswith(USER_AGENT)
    assert " m/" not in header
