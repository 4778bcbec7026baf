"""`/api/reports/` as JSON and CSV, clear 400s for bad input, and the `/ops/` page with a chart per report."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.users_service.events import new_user_id
from users_service.reports import services


@pytest.fixture
def runs(known_users):
    return {
        "headcount": services.report_run(name="headcount_by_department", period="2026-11-21"),
        "movers": services.report_run(name="joiners_and_leavers", period="2026-W47"),
    }


def _csv(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_list_and_detail_as_json(api_client, runs):
    listing = api_client.get("/api/reports/").json()
    assert listing["count"] == 2
    assert {run["report"] for run in listing["results"]} == {"headcount_by_department", "joiners_and_leavers"}

    detail = api_client.get(f"/api/reports/{runs['movers'].pk}/").json()
    assert detail["period"] == "2026-W47"
    assert detail["figures"] == {"joiners": 1, "leavers": 1}
    assert detail["rows"][0] == {"department": "ENG", "joiners": 1, "leavers": 0}


def test_list_filters_by_report_and_period(api_client, runs):
    response = api_client.get("/api/reports/", {"report": "headcount_by_department", "period": "2026-11-21"})
    assert [run["id"] for run in response.json()["results"]] == [runs["headcount"].pk]
    assert api_client.get("/api/reports/", {"period": "2026-11-22"}).json()["count"] == 0


def test_detail_as_csv_parses_into_the_report_rows(api_client, runs):
    rows = _csv(api_client.get(f"/api/reports/{runs['headcount'].pk}/", {"format": "csv"}))
    assert rows == [{"department": "(none)", "headcount": "1"}, {"department": "ENG", "headcount": "2"}]


def test_list_as_csv_has_one_line_per_run_with_its_figures(api_client, runs):
    rows = _csv(api_client.get("/api/reports/", {"format": "csv", "report": "joiners_and_leavers"}))
    assert len(rows) == 1
    assert rows[0]["period"] == "2026-W47"
    assert (rows[0]["figure_joiners"], rows[0]["figure_leavers"]) == ("1", "1")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "2026-13-45"}, "period"),
        ({"report": "joiners_and_leavers", "period": "2026-11-21"}, "period"),
        ({"report": "no_such_report"}, "report"),
        ({"format": "xml"}, "format"),
        ({"format": "csv", "period": "yesterday"}, "period"),
    ],
)
def test_bad_query_parameters_get_400_with_field_errors(api_client, db, params, field):
    response = api_client.get("/api/reports/", params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert field in response.json()


def test_bad_format_on_detail_is_400_and_unknown_run_is_404(api_client, runs):
    assert api_client.get(f"/api/reports/{runs['movers'].pk}/", {"format": "pdf"}).status_code == 400
    assert api_client.get("/api/reports/999999/").status_code == 404
    assert api_client.get("/api/reports/999999/", {"format": "csv"}).status_code == 404


def test_reports_need_a_login(db):
    assert Client().get("/api/reports/").status_code == 401


def test_ops_page_needs_a_staff_login_and_shows_a_chart_per_report(db, runs, monkeypatch):
    from devstack.processes import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # no SQS: DLQ depth is null
    services.report_run(name="pipeline_health", period="2026-11-23T10")
    client = Client()
    assert client.get("/ops/").status_code == 302

    client.force_login(get_user_model().objects.create_user("ops", password="x", is_staff=True))
    page = client.get("/ops/").content.decode()

    for section in ("report-headcount_by_department", "report-joiners_and_leavers", "report-pipeline_health"):
        start = page.index(f'id="{section}"')
        assert "<svg" in page[start : page.index("</section>", start)], section
    reconciliation = page.index('id="report-reconciliation"')
    assert "Not run yet" in page[reconciliation : page.index("</section>", reconciliation)]


def test_admin_lists_runs_and_shows_figures_rows_and_chart(db, runs):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "x"))

    listing = client.get("/admin/reports/reportrun/", {"report__exact": "joiners_and_leavers"})
    assert listing.status_code == 200
    assert "2026-W47" in listing.content.decode()
    assert "2026-11-21" not in listing.content.decode()

    detail = client.get(f"/admin/reports/reportrun/{runs['headcount'].pk}/change/").content.decode()
    assert "<th>total</th><td>3</td>" in detail
    assert "<td>ENG</td><td>2</td>" in detail
    assert "<svg" in detail


@pytest.mark.parametrize("department", ['=HYPERLINK("x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"])
def test_csv_neutralises_a_department_name_a_spreadsheet_would_run(api_client, db, department):
    from users_service.directory.models import UserRecord

    UserRecord.objects.create(id=new_user_id(), version=1, department=department, start_date="2020-01-02")
    run = services.report_run(name="headcount_by_department", period="2026-11-21")
    response = api_client.get(f"/api/reports/{run.pk}/", {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode(), newline="")))
    assert rows == [{"department": "'" + department, "headcount": "1"}]


def test_csv_cells_starting_with_a_carriage_return_are_neutralised_and_numbers_left_alone():
    from users_service.reports.renderers import CSVRenderer

    text = CSVRenderer().render([{"a": "\rCR", "b": -1, "c": "-1", "d": "ok"}]).decode()
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["a", "b", "c", "d"],
        ["'\rCR", "-1", "'-1", "ok"],
    ]
