"""The pages an operator opens, in a real browser: both admins in one browser, `/ops/`, the DLQ
admin, the trace of one event and Swagger UI on both services; no console error, no failed
request, nothing from another host, and the content drawn (not only served)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Servers, screenshot, watch

# The first test also waits for the stack's setup (migrations, demo data, the pipeline, reports):
# ~2 minutes on a loaded 2-core machine, beyond the suite's default of 300 s with some margin.
pytestmark = pytest.mark.timeout(900)


def test_one_browser_stays_logged_into_both_admins(page, logged_in: Servers):
    # Both sessions live on 127.0.0.1: with one cookie name, the second login would end the first.
    for url in (logged_in.hr_url, logged_in.users_url):
        page.goto(f"{url}/admin/")
        assert page.url == f"{url}/admin/"
        assert page.locator("#user-tools").is_visible()
        assert page.locator("#content h1").inner_text()


def test_ops_page_draws_every_section(page, logged_in: Servers):
    page.goto(f"{logged_in.users_url}/ops/")
    for card in ("throughput", "lag", "queue", "dlq", "outbox", "workers", "cache", "failed"):
        assert page.locator(f"#card-{card}").is_visible(), card
    # The two dead letters put in the DLQ, counted from SQS and linked to their admin page.
    assert page.locator("#card-dlq .value").inner_text() == "2"
    # The demo's events went through relay, bridge and worker: counted, with their lag, no backlog.
    assert page.locator("#card-outbox .value").inner_text() == "0"
    assert page.locator("#card-workers .value").inner_text() == "all up"
    assert page.locator("#card-lag .value").inner_text() != "none"
    for chart in ("#chart-throughput svg", "#chart-lag svg"):
        assert page.locator(chart).bounding_box()["height"] > 100, chart
    # Each report has run once: a chart each, and no "not run yet".
    for report in ("reconciliation", "headcount_by_department", "joiners_and_leavers", "pipeline_health"):
        assert page.locator(f"#report-{report} svg").is_visible(), report
    assert page.get_by_text("Not run yet").count() == 0
    screenshot(page, "ops")
    page.click("#card-dlq a")
    page.wait_for_url(f"{logged_in.users_url}/admin/bridge/deadletter/")


def test_dead_letter_admin_lists_the_dlq(page, logged_in: Servers):
    page.goto(f"{logged_in.users_url}/admin/bridge/deadletter/")
    rows = page.locator("#result_list tr.dead-letter")
    assert rows.count() == 2
    assert sorted(page.locator("#reason option").all_inner_texts()) == [
        "all",
        "invalid_json",
        "unknown_event_type",
    ]
    screenshot(page, "dead-letters")


def test_trace_page_follows_one_event_from_the_monolith_to_the_inbox(page, logged_in: Servers):
    # An event the demo data sent through the pipeline, as the hand-off admin lists it.
    page.goto(f"{logged_in.users_url}/admin/bridge/handoff/?event_type=user.created")
    event_id = page.locator("#result_list tbody td.field-event_id").first.inner_text().strip()
    page.goto(f"{logged_in.users_url}/ops/trace/")
    page.fill("#event_id", event_id)
    page.click("input[type=submit]")
    page.wait_for_url(f"{logged_in.users_url}/ops/trace/{event_id}/")
    hops = [name.strip() for name in page.locator("#timeline tr.hop td:first-child").all_inner_texts()]
    # The monolith's hops (through its outbox API), the bridge's, and the inbox's, in order.
    for expected in ("published", "received", "handed over", "applied"):
        assert expected in hops, (expected, hops)
    order = [hops.index(name) for name in ("published", "received", "handed over", "applied")]
    assert order == sorted(order), hops
    assert page.locator("#trace-id").inner_text() != "-"
    screenshot(page, "trace")


@pytest.mark.parametrize(("service", "title"), [("hr", "HR monolith API"), ("users", "Users service API")])
def test_swagger_ui_draws_the_api(page, logged_in: Servers, service: str, title: str):
    url = logged_in.hr_url if service == "hr" else logged_in.users_url
    page.goto(f"{url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert page.locator(".swagger-ui .info .title").inner_text().startswith(title)
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() > 3
    screenshot(page, f"api-docs-{service}")


def test_a_request_to_another_host_is_refused_and_recorded(browsing, servers: Servers):
    # The guard the other tests rely on: a page pulling a script from a CDN must not pass unseen.
    tab = browsing.context.new_page()
    problems = watch(tab)
    seen = len(browsing.foreign_requests)
    try:
        tab.goto(f"{servers.users_url}/health/")
        tab.set_content(
            '<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist/swagger-ui-bundle.js"></script>'
        )
    finally:
        tab.close()
    assert browsing.foreign_requests[seen:] == [
        "https://cdn.jsdelivr.net/npm/swagger-ui-dist/swagger-ui-bundle.js"
    ]
    assert problems.failed_requests
    del browsing.foreign_requests[seen:]
