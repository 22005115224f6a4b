"""The reports in the admin: an index, one page per report, one CSV per table.

They hang off the `Report` model's admin (a model without a table), so the admin index lists
"Reports" like any app, `admin_view` keeps them behind staff sign-in (and the staff TOTP when
DEPOT_ADMIN_REQUIRE_2FA is on), and the `view_report` permission says which staff see them.
Every read of a report runs inside `report_reads()`: on the replica when there is one.
"""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from apps.core.admin import ReadOnlyAdmin
from apps.reports.forms import DateRangeForm
from apps.reports.models import Report
from apps.reports.router import report_reads
from apps.reports.tables import REPORTS, Page, report_page

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); product
# names and version strings come from vendors and from the sites that check for updates.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """Return `value` as a CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = str(value)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    """The reports' pages: viewed only, with `reports.view_report` (superusers always)."""

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            # The name the admin index links "Reports" to.
            path("", wrap(self.index_view), name="reports_report_changelist"),
            path("<slug:slug>/", wrap(self.report_view), name="reports-page"),
            path("<slug:slug>/<slug:table>.csv", wrap(self.csv_view), name="reports-csv"),
        ]

    def _allowed(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "reports": [
                (slug, label, reverse("admin:reports-page", args=[slug]))
                for slug, (label, _) in REPORTS.items()
            ],
        }

    def index_view(self, request: HttpRequest) -> TemplateResponse:
        self._allowed(request)
        return TemplateResponse(
            request, "admin/reports/index.html", self._context(request, "Reports")
        )

    def _page(self, request: HttpRequest, slug: str) -> tuple[DateRangeForm, Page]:
        self._allowed(request)
        form = DateRangeForm(request.GET or None)
        start, end = form.range()
        product = form.cleaned_data.get("product", "") if form.is_bound and form.is_valid() else ""
        with report_reads():
            page = report_page(slug=slug, start=start, end=end, product=product)
        if page is None:
            raise Http404("No such report.")
        return form, page

    def report_view(self, request: HttpRequest, slug: str) -> TemplateResponse:
        form, page = self._page(request, slug)
        start, end = form.range()
        query = request.GET.urlencode()
        tables = [
            {
                "table": table,
                "chart": table.chart.as_json() if table.chart else None,
                "chart_id": f"chart-data-{table.slug}",
                "csv_url": reverse("admin:reports-csv", args=[page.slug, table.slug])
                + (f"?{query}" if query else ""),
            }
            for table in page.tables
        ]
        context = {
            **self._context(request, page.title),
            "page": page,
            "form": form,
            "start": start,
            "end": end,
            "tables": tables,
        }
        return TemplateResponse(request, "admin/reports/report.html", context)

    def csv_view(self, request: HttpRequest, slug: str, table: str) -> HttpResponse:
        form, page = self._page(request, slug)
        start, end = form.range()
        found = next((t for t in page.tables if t.slug == table), None)
        if found is None:
            raise Http404("No such table.")
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="{page.slug}-{found.slug}-{start}-{end}.csv"'
        )
        writer = csv.writer(response)
        writer.writerow([csv_cell(column) for column in found.columns])
        writer.writerows([csv_cell(cell) for cell in row] for row in found.rows)
        return response
