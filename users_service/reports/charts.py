"""SVG charts (pygal) embedded inline on `/ops/` and in admin: one per report, drawn from its newest
runs, and the pipeline's last hour (events per minute, lag)."""

from __future__ import annotations

import pygal
from pygal.style import CleanStyle

from users_service.reports import selectors
from users_service.reports.dashboard import Throughput
from users_service.reports.definitions import Report
from users_service.reports.models import ReportRun


def _chart(kind: type[pygal.graph.graph.Graph], title: str, **options: object) -> pygal.graph.graph.Graph:
    # No external scripts (pygal links its tooltip JS from a CDN by default): the page works offline.
    return kind(
        title=title,
        style=CleanStyle,
        js=[],
        disable_xml_declaration=True,
        width=640,
        height=300,
        x_label_rotation=30,
        show_legend=True,
        legend_at_bottom=True,
        **options,
    )


def _minute_chart(kind: type[pygal.graph.graph.Graph], title: str, throughput: Throughput):
    # Small dots: a minute between two empty ones is a point with no line to draw it.
    chart = _chart(kind, title, show_minor_x_labels=False, x_labels_major_every=10, dots_size=2)
    chart.x_labels = [minute.start.strftime("%H:%M") for minute in throughput.minutes]
    return chart


def throughput_chart_svg(throughput: Throughput) -> str:
    """Events handled per minute (inbox rows), applied and stale, over the page's window (UTC)."""
    chart = _minute_chart(pygal.StackedBar, "Events handled per minute (UTC)", throughput)
    chart.add("applied", [minute.applied for minute in throughput.minutes])
    chart.add("stale", [minute.stale for minute in throughput.minutes])
    return chart.render(is_unicode=True)


def lag_chart_svg(throughput: Throughput) -> str:
    """Seconds from an event's occurrence in the monolith to its apply here: median and max per minute."""
    chart = _minute_chart(pygal.Line, "Lag, occurred → applied (seconds, UTC)", throughput)
    # A minute with no event leaves a gap rather than a fake zero.
    chart.add("median", [minute.lag_median for minute in throughput.minutes], allow_interruptions=True)
    chart.add("max", [minute.lag_max for minute in throughput.minutes], allow_interruptions=True)
    return chart.render(is_unicode=True)


def report_chart_svg(report: Report, latest: ReportRun | None = None, history: int = 24) -> str | None:
    """The report's chart as an SVG string, or None while it has no succeeded run."""
    spec = report.chart
    if spec["kind"] == "bar_rows":
        run = latest or next(iter(reversed(selectors.report_run_history(report=report.name, limit=1))), None)
        if run is None:
            return None
        chart = _chart(pygal.Bar, f"{report.title}, {run.period}")
        chart.x_labels = [str(row[spec["label"]]) for row in run.rows]
        for value in spec["values"]:
            chart.add(value, [row.get(value) for row in run.rows])
        return chart.render(is_unicode=True)
    runs = selectors.report_run_history(report=report.name, limit=history)
    if not runs:
        return None
    chart = _chart(pygal.Line if len(runs) > 1 else pygal.Bar, f"{report.title}, last {len(runs)} runs")
    chart.x_labels = [run.period for run in runs]
    for value in spec["values"]:
        # A figure that was unavailable (None) leaves a gap rather than a fake zero.
        chart.add(value, [run.figures.get(value) for run in runs])
    return chart.render(is_unicode=True)
