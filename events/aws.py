"""boto3 clients for SNS and SQS with short timeouts and explicit endpoints."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any

import boto3
import botocore
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.loaders import Loader, create_loader
from botocore.parsers import ResponseParserError

from events.query_body import encode_query_body_before_signing

#: Errors of an SNS/SQS call that may go away by themselves (network, throttling, the service
#: down). A server dying mid-response leaves an empty body: botocore then raises
#: ResponseParserError, which is not a BotoCoreError.
AWS_CALL_ERRORS = (BotoCoreError, ClientError, ResponseParserError)

#: The User-Agent every client sends, fixed (botocore's documented `Config(user_agent=...)`).
#: Left to botocore, the header is rebuilt from a dozen parts twice per request (~135 µs each
#: here, a tenth of the bridge's CPU per message: bench/_profile_bridge.py); what the fixed
#: one leaves out is the SDK's per-request feature codes.
USER_AGENT = (
    f"Boto3/{boto3.__version__} md/Botocore#{botocore.__version__} ua/2.1 "
    f"lang/python#{platform.python_version()} app/hr-events"
)


class _SearchPaths(list[str]):
    """A loader's search paths, each kept once. boto3 appends its own data directory to its
    session's loader at each `boto3.session.Session(...)`: with one loader for the process, that
    list would grow by one entry per client."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def _process_loader() -> Loader:
    """botocore's data loader (service models, endpoints, retry rules), one for the process.

    Each botocore session otherwise makes its own and reads and parses the JSON models again
    (~80 ms of CPU per client here, ~12 ms with the loader shared). The loader's caches
    (`instance_cache`: a dict, check then set) hold only what was read from the files; two
    threads missing the same entry at once both read it and store equal values; clients only
    read the models (the retry rules are deep-copied before use). The search paths are
    botocore's own (`AWS_DATA_PATH`, ~/.aws/models, botocore's data), then boto3's, as a boto3
    session sets them.
    """
    data_path = botocore.session.Session().get_config_variable("data_path")
    paths = _SearchPaths(create_loader(data_path).search_paths)
    loader = Loader(extra_search_paths=paths, include_default_search_paths=False)
    loader.search_paths.append(os.path.join(os.path.dirname(boto3.__file__), "data"))
    return loader


_LOADER = _process_loader()


@dataclass(frozen=True)
class AwsSettings:
    """Where SNS/SQS live. `endpoint_url` is moto (5000) or LocalStack (4566) locally, None on AWS."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    connect_timeout: float = 3.0
    read_timeout: float = 30.0
    max_attempts: int = 3

    @classmethod
    def from_env(cls, environ: Any = None) -> AwsSettings:
        env = os.environ if environ is None else environ
        return cls(
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            access_key_id=env.get("AWS_ACCESS_KEY_ID"),
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        )


def client(service: str, settings: AwsSettings, **config: Any) -> Any:
    """A boto3 client; `config` overrides botocore Config fields (e.g. read_timeout)."""
    options = {
        "connect_timeout": settings.connect_timeout,
        "read_timeout": settings.read_timeout,
        "retries": {"max_attempts": settings.max_attempts, "mode": "standard"},
        "max_pool_connections": 50,
        "user_agent": USER_AGENT,
    }
    options.update(config)
    credentials = {}
    if settings.access_key_id:
        credentials = {
            "aws_access_key_id": settings.access_key_id,
            "aws_secret_access_key": settings.secret_access_key or "",
        }
    # A session of its own per client (sessions are not thread-safe), on the process's loader
    # (botocore's documented component): the models are read once per process.
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    aws_client = boto3.session.Session(botocore_session=core).client(
        service,
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        config=Config(**options),
        **credentials,
    )
    # SNS speaks the query protocol: its body is form-encoded once, fast (events/query_body.py).
    aws_client.meta.events.register("before-sign", encode_query_body_before_signing)
    return aws_client
