from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from users_service.reports.charts import report_chart_svg
from users_service.reports.definitions import REPORTS
from users_service.reports.models import ReportRun


@admin.register(ReportRun)
class ReportRunAdmin(admin.ModelAdmin):
    """Runs are written by the report tasks only: browsable, not editable (deletable for cleanup)."""

    list_display = ("report", "period", "status", "figures_summary", "attempts", "started_at", "finished_at")
    list_filter = ("report", "status")
    search_fields = ("period",)
    date_hierarchy = "period_start"
    readonly_fields = (
        "report",
        "period",
        "period_start",
        "period_end",
        "status",
        "attempts",
        "task_id",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "figures_table",
        "rows_table",
        "chart",
    )
    exclude = ("figures", "rows")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="figures")
    def figures_summary(self, run: ReportRun) -> str:
        return ", ".join(f"{k}={v}" for k, v in run.figures.items() if not isinstance(v, list | dict))

    @admin.display(description="figures")
    def figures_table(self, run: ReportRun) -> str:
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", run.figures.items()),
        )

    @admin.display(description="rows")
    def rows_table(self, run: ReportRun) -> str:
        if not run.rows:
            return "-"
        header = list(run.rows[0])
        head = format_html_join("", "<th>{}</th>", ((name,) for name in header))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (format_html_join("", "<td>{}</td>", ((row.get(name),) for name in header)),)
                for row in run.rows
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)

    @admin.display(description="chart")
    def chart(self, run: ReportRun) -> str:
        report = REPORTS.get(run.report)
        svg = report_chart_svg(report, latest=run) if report else None
        # pygal escapes every label and value it writes into the SVG.
        return mark_safe(svg) if svg else "-"  # noqa: S308 - reviewed: pygal escapes the SVG's text
