"""Both services' web servers as real processes (runserver, SQLite, the suite's Redis and moto
server) and one Chromium driven by Playwright, for the pages people look at in a browser.

The browser is Debian's `chromium` (devstack/chromium.py installs it with apt-get when root and
it is missing), never Playwright's own download. One browser and one context for the package:
both admins are logged into the same cookie jar, as a person's browser would be. The fixtures
end with the package, so that Playwright's event loop is gone before any later test uses the ORM.
Every request to a host other than the two servers is refused and recorded.

`UPDATE_SCREENSHOTS=1` saves a screenshot of each page checked under docs/screenshots/.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from devstack.chromium import chromium_binary
from devstack.moto import MotoServer
from devstack.processes import free_port, wait_until
from devstack.redis import RedisServer
from devstack.service_stack import RunningServices, pipeline_env, running_services, set_up_services
from devstack.stack import BASE_DIR, MANAGE, create_topology, manage
from events.aws import AwsSettings, client
from events.bridge.dead_letters import DLQ_DETAIL_ATTRIBUTE, DLQ_REASON_ATTRIBUTE
from users_service import queues

ADMIN_USER, ADMIN_PASSWORD = "admin", "browser-admin-pw"
#: Employees of the demo data: their events are what the pipeline carries before the pages open.
DEMO_USERS = 40
SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
#: Dead letters put in the DLQ for the DLQ admin page: (reason, detail, body).
DEAD_LETTERS = (
    ("invalid_json", "Expecting value: line 1 column 1 (char 0)", "not json"),
    ("unknown_event_type", "user.promoted", '{"event_type": "user.promoted"}'),
)
#: The reports computed before the pages are opened (reconciliation first: it fills the read model).
REPORTS = ("reconciliation", "headcount_by_department", "joiners_and_leavers", "pipeline_health")
#: Both web servers' addresses and the processes of the stack behind them.
Servers = RunningServices


@pytest.fixture(scope="package")
def servers(moto_server: MotoServer, redis_server: RedisServer, tmp_path_factory) -> Iterator[Servers]:
    """Both web servers, and the pipeline between them (relay, bridge, one worker per role), so
    that `/ops/` shows a stack at work: the demo's events applied, workers answering, reports run."""
    workdir: Path = tmp_path_factory.mktemp("browser")
    hr_port, users_port = free_port(), free_port()
    env = pipeline_env(
        workdir=workdir,
        aws_endpoint=moto_server.url,
        redis_url=redis_server.url,
        broker_db=4,
        cache_db=5,
        hr_port=hr_port,
        # The page is looked at once: no reload in the middle of a check.
        OPS_REFRESH_SECONDS="0",
    )
    topology = create_topology(env)
    tokens = set_up_services(env, admin=ADMIN_USER, password=ADMIN_PASSWORD, demo_users=DEMO_USERS)
    sqs = client("sqs", AwsSettings.from_env(env))
    for reason, detail, body in DEAD_LETTERS:
        attributes = {DLQ_REASON_ATTRIBUTE: reason, DLQ_DETAIL_ATTRIBUTE: detail}
        sqs.send_message(
            QueueUrl=topology.dlq_url,
            MessageBody=body,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
    commands = {
        "hr-relay": [*MANAGE, "hr", "relay_outbox"],
        "users-bridge": [*MANAGE, "users", "run_bridge"],
        # One worker per role, as the Procfile starts them (one process each: the machine is shared).
        **{
            f"users-worker-{role}": [*MANAGE, "users", "run_worker", role, "--concurrency", "1"]
            for role in queues.ROLES
        },
    }
    # Ready once the web processes are live: /health/ asks about the whole pipeline, and the DLQ
    # here is not empty on purpose.
    with running_services(
        env=env, workdir=workdir, hr_port=hr_port, users_port=users_port, commands=commands, timeout=60
    ) as found:
        try:
            wait_until(
                lambda: _user_count(found.users_url, tokens["users"]) == DEMO_USERS,
                timeout=90,
                what="the demo's users applied in the users service",
                interval=0.5,
            )
            # One process for every report (reconciliation reads the monolith just started).
            code = "from users_service.reports.services import report_run\n" + "".join(
                f"report_run(name={name!r}, force=True)\n" for name in REPORTS
            )
            manage("users", "shell", "-c", code, env=env)
        except (TimeoutError, RuntimeError) as exc:
            pytest.fail(f"{exc}\n{found.logs(30)}")
        yield found


def _user_count(url: str, token: str) -> int | None:
    try:
        response = requests.get(
            f"{url}/api/users/", params={"limit": 1}, headers={"Authorization": f"Token {token}"}, timeout=2
        )
        return response.json().get("count") if response.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None


@dataclass
class Browsing:
    """The session's browser context, and what went wrong on the pages opened in it."""

    context: object
    allowed_hosts: frozenset[str]
    foreign_requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="package")
def browsing(servers: Servers) -> Iterator[Browsing]:
    try:
        executable = chromium_binary(allow_system_install=True)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"browser tests need Chromium: {exc}")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    # --no-sandbox: Chromium's sandbox refuses to run as root (containers, CI).
    browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    session = Browsing(
        context=context,
        allowed_hosts=frozenset(urlsplit(url).netloc for url in (servers.hr_url, servers.users_url)),
    )

    def only_our_hosts(route, request) -> None:
        if urlsplit(request.url).scheme in ("http", "https", "ws", "wss") and (
            urlsplit(request.url).netloc not in session.allowed_hosts
        ):
            session.foreign_requests.append(request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", only_our_hosts)
    try:
        yield session
    finally:
        context.close()
        browser.close()
        playwright.stop()


@dataclass
class PageProblems:
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.console_errors or self.failed_requests)


def watch(page) -> PageProblems:
    """Collect the page's console errors, uncaught exceptions and failed or refused requests."""
    problems = PageProblems()
    page.on("console", lambda msg: msg.type == "error" and problems.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: problems.console_errors.append(str(exc)))
    page.on("requestfailed", lambda req: problems.failed_requests.append(f"{req.url}: {req.failure}"))
    page.on(
        "response",
        lambda resp: resp.status >= 400 and problems.failed_requests.append(f"{resp.url}: {resp.status}"),
    )
    return problems


@pytest.fixture
def page(browsing: Browsing) -> Iterator:
    """A new tab of the session's browser; the test fails if the tab logged an error or a request failed."""
    tab = browsing.context.new_page()
    tab.problems = watch(tab)
    seen_foreign = len(browsing.foreign_requests)
    yield tab
    tab.close()
    assert not tab.problems, tab.problems
    assert browsing.foreign_requests[seen_foreign:] == []


def log_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", ADMIN_USER)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")


@pytest.fixture(scope="package")
def logged_in(browsing: Browsing, servers: Servers) -> Servers:
    """Both admins logged in, one after the other, in the session's one browser context."""
    tab = browsing.context.new_page()
    try:
        for url in (servers.hr_url, servers.users_url):
            log_in(tab, url)
    finally:
        tab.close()
    return servers


def screenshot(page, name: str) -> None:
    """Save `docs/screenshots/<name>.png` when UPDATE_SCREENSHOTS is set (committed with the docs)."""
    if os.environ.get("UPDATE_SCREENSHOTS", "") not in ("", "0"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
