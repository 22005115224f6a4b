"""The report pages: each a list of tables, each table with the chart that draws it.

A table is the source: the page shows it (the accessible form of the chart), the CSV export is
its rows, and its chart is built here from the same figures, so the three cannot disagree.
Only the public selectors of store, licenses and updates are read; one query per table, so a
page's queries do not grow with products, days or orders.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from apps.licenses import selectors as license_selectors
from apps.store import selectors as store_selectors
from apps.updates import selectors as update_selectors

Cell = str | int

# The renewal rate looks back this far; the pipeline looks ahead in these steps.
RENEWAL_RATE_DAYS = 90


@dataclass(frozen=True)
class Dataset:
    label: str
    data: list[float | int]


@dataclass(frozen=True)
class Chart:
    """What Chart.js draws: a type, the labels of the x axis, one dataset per series."""

    kind: str
    labels: list[str]
    datasets: list[Dataset]
    y_title: str
    stacked: bool = False

    def as_json(self) -> dict[str, Any]:
        """Return the chart as the page hands it to static/reports/reports.js."""
        return {
            "type": self.kind,
            "labels": self.labels,
            "datasets": [{"label": d.label, "data": d.data} for d in self.datasets],
            "yTitle": self.y_title,
            "stacked": self.stacked,
        }


@dataclass(frozen=True)
class Table:
    slug: str
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    chart: Chart | None = None
    note: str = ""


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    tables: list[Table]
    note: str = ""
    # The installs report's product choice: (slug, name) pairs and the one shown.
    products: list[tuple[str, str]] = field(default_factory=list)
    product: str = ""


def amount(minor: int) -> str:
    """Return minor units as a decimal string in major units: 4900 → "49.00"."""
    return f"{minor // 100}.{minor % 100:02d}"


def _major(minor: int) -> float:
    return round(minor / 100, 2)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _per_day_chart(
    rows: list[store_selectors.RevenueDay], start: date, end: date, *, kind: str, y_title: str
) -> Chart:
    days = _days(start, end)
    by_currency: dict[str, dict[date, int]] = defaultdict(dict)
    for row in rows:
        by_currency[row.currency][row.day] = row.amount
    return Chart(
        kind=kind,
        labels=[day.isoformat() for day in days],
        datasets=[
            Dataset(currency, [_major(amounts.get(day, 0)) for day in days])
            for currency, amounts in sorted(by_currency.items())
        ],
        y_title=y_title,
    )


def _grouped_chart(rows: list[store_selectors.RevenueGroup], *, y_title: str) -> Chart:
    labels = list(dict.fromkeys(row.label for row in rows))
    by_currency: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        by_currency[row.currency][row.label] = row.amount
    return Chart(
        kind="bar",
        labels=labels,
        datasets=[
            Dataset(currency, [_major(amounts.get(label, 0)) for label in labels])
            for currency, amounts in sorted(by_currency.items())
        ],
        y_title=y_title,
    )


def sales_page(*, start: date, end: date, product: str = "") -> Page:
    """Revenue per day and per product, new vs renewal vs upgrade, and refunds."""
    revenue = store_selectors.revenue_by_day(start=start, end=end)
    products = store_selectors.revenue_by_product(start=start, end=end)
    kinds = store_selectors.revenue_by_kind(start=start, end=end)
    refunds = store_selectors.revenue_refunds_by_day(start=start, end=end)
    return Page(
        slug="sales",
        title="Sales",
        note="Orders by the UTC day they were paid; a refunded order counts on the day it "
        "was paid and again, under refunds, on the day it was refunded. Amounts per currency.",
        tables=[
            Table(
                slug="revenue-per-day",
                title="Revenue per day",
                columns=["Day", "Currency", "Orders", "Revenue"],
                rows=[[r.day.isoformat(), r.currency, r.orders, amount(r.amount)] for r in revenue],
                chart=_per_day_chart(revenue, start, end, kind="line", y_title="Revenue"),
            ),
            Table(
                slug="revenue-per-product",
                title="Revenue per product",
                columns=["Product", "Slug", "Currency", "Lines", "Revenue"],
                rows=[[r.label, r.key, r.currency, r.lines, amount(r.amount)] for r in products],
                chart=_grouped_chart(products, y_title="Revenue"),
            ),
            Table(
                slug="sales-by-kind",
                title="New, renewal and upgrade sales",
                columns=["Kind", "Currency", "Lines", "Revenue"],
                rows=[[r.label, r.currency, r.lines, amount(r.amount)] for r in kinds],
                chart=_grouped_chart(kinds, y_title="Revenue"),
            ),
            Table(
                slug="refunds-per-day",
                title="Refunds per day",
                columns=["Day", "Currency", "Refunded orders", "Amount"],
                rows=[[r.day.isoformat(), r.currency, r.orders, amount(r.amount)] for r in refunds],
                chart=_per_day_chart(refunds, start, end, kind="bar", y_title="Refunded"),
            ),
        ],
    )


def _rate(renewed: int, due: int) -> str:
    return f"{renewed * 100 / due:.1f}" if due else ""


def _renewal_rate_rows(
    products: list[license_selectors.ProductLicenses],
    renewed: dict[int, int],
    lapsed: dict[int, int],
) -> tuple[list[list[Cell]], list[float | int]]:
    """Rows of the renewal-rate table (with an "All products" total) and the chart's values."""
    rows: list[list[Cell]] = []
    rates: list[float | int] = []
    for p in products:
        done, left = renewed.get(p.product_id, 0), lapsed.get(p.product_id, 0)
        rows.append([p.name, done + left, done, left, _rate(done, done + left)])
        rates.append(round(done * 100 / (done + left), 1) if done + left else 0)
    all_done, all_left = sum(renewed.values()), sum(lapsed.values())
    total = all_done + all_left
    rows.append(["All products", total, all_done, all_left, _rate(all_done, total)])
    return rows, rates


def _active_table(products: list[license_selectors.ProductLicenses]) -> Table:
    names = [p.name for p in products]
    return Table(
        slug="active-licenses",
        title="Active licenses",
        columns=["Product", "Active", "Of which lifetime"],
        rows=[[p.name, p.active, p.lifetime] for p in products],
        chart=Chart(
            kind="bar",
            labels=names,
            datasets=[
                Dataset("Yearly", [p.active - p.lifetime for p in products]),
                Dataset("Lifetime", [p.lifetime for p in products]),
            ],
            y_title="Licenses",
            stacked=True,
        ),
        note="Active and not expired: the licenses that get updates today.",
    )


def _pipeline_table(products: list[license_selectors.ProductLicenses]) -> Table:
    names = [p.name for p in products]
    return Table(
        slug="renewal-pipeline",
        title="Renewal pipeline",
        columns=["Product", "Next 30 days", "31-60 days", "61-90 days", "Next 90 days"],
        rows=[
            [
                p.name,
                p.expiring_30,
                p.expiring_60,
                p.expiring_90,
                p.expiring_30 + p.expiring_60 + p.expiring_90,
            ]
            for p in products
        ],
        chart=Chart(
            kind="bar",
            labels=names,
            datasets=[
                Dataset("Next 30 days", [p.expiring_30 for p in products]),
                Dataset("31-60 days", [p.expiring_60 for p in products]),
                Dataset("61-90 days", [p.expiring_90 for p in products]),
            ],
            y_title="Licenses expiring",
            stacked=True,
        ),
        note="Active yearly licenses by when they expire.",
    )


def _rate_table(names: list[str], rate_rows: list[list[Cell]], rates: list[float | int]) -> Table:
    return Table(
        slug="renewal-rate",
        title=f"Renewal rate, last {RENEWAL_RATE_DAYS} days",
        columns=["Product", "Came up for renewal", "Renewed", "Lapsed", "Renewal rate %"],
        rows=rate_rows,
        chart=Chart(
            kind="bar",
            labels=names,
            datasets=[Dataset("Renewal rate %", rates)],
            y_title="%",
        ),
        note=f"Licenses whose expiry fell in the last {RENEWAL_RATE_DAYS} days: renewed "
        "(a paid renewal, early or late) or still expired. Revoked licenses are left out.",
    )


def licenses_page(*, start: date, end: date, product: str = "") -> Page:
    """Active licenses, the renewal pipeline and the renewal rate, as of now."""
    now = timezone.now()
    since = now - timedelta(days=RENEWAL_RATE_DAYS)
    products = license_selectors.licenses_report(now=now)
    rate_rows, rates = _renewal_rate_rows(
        products,
        store_selectors.renewals_by_product(since=since, until=now),
        license_selectors.licenses_lapsed_by_product(since=since, until=now),
    )
    names = [p.name for p in products]
    return Page(
        slug="licenses",
        title="Licenses and renewals",
        note=f"As of now ({now:%Y-%m-%d %H:%M} UTC); the date range does not apply here.",
        tables=[
            _active_table(products),
            _pipeline_table(products),
            _rate_table(names, rate_rows, rates),
        ],
    )


def _adoption_table(
    slug: str, title: str, label: str, rows: list[tuple[str, int]], total: int
) -> Table:
    return Table(
        slug=slug,
        title=title,
        columns=[label, "Sites", "Share %"],
        rows=[
            [value, sites, f"{sites * 100 / total:.1f}" if total else ""] for value, sites in rows
        ],
        chart=Chart(
            kind="bar",
            labels=[value for value, _ in rows],
            datasets=[Dataset("Sites", [sites for _, sites in rows])],
            y_title="Sites",
        ),
    )


def installs_page(*, start: date, end: date, product: str = "") -> Page:
    """Active installs per product and day; plugin, WordPress and PHP adoption of one product."""
    catalogue = license_selectors.products_for_updates()
    products = sorted(
        ((slug, name) for _, slug, _, name in catalogue), key=lambda p: (p[1].casefold(), p[0])
    )
    ids = {slug: pk for pk, slug, _, _ in catalogue}
    installs = update_selectors.installs_by_day(start=start, end=end)
    days = _days(start, end)
    by_product: dict[str, dict[date, int]] = defaultdict(dict)
    for row in installs:
        by_product[row.name][row.day] = row.sites
    chosen = product if product in ids else (products[0][0] if products else "")
    tables = [
        Table(
            slug="active-installs",
            title="Active installs per day",
            columns=["Day", "Product", "Active installs", "Update checks"],
            rows=[[r.day.isoformat(), r.name, r.sites, r.checks] for r in installs],
            chart=Chart(
                kind="line",
                labels=[day.isoformat() for day in days],
                datasets=[
                    Dataset(name, [sites.get(day, 0) for day in days])
                    for name, sites in sorted(by_product.items())
                ],
                y_title="Sites",
            ),
            note="Distinct sites that checked for updates that UTC day (rolled up nightly; "
            "today's figures are provisional).",
        )
    ]
    if chosen:
        adoption = update_selectors.adoption_latest(product_id=ids[chosen], end=end)
        on = adoption.day.isoformat() if adoption.day else "no day yet"
        for slug, title, label, dimension in (
            ("plugin-versions", "Plugin versions", "Version", "plugin"),
            ("wordpress-versions", "WordPress versions", "WordPress", "wp"),
            ("php-versions", "PHP versions", "PHP", "php"),
        ):
            rows = adoption.by_dimension.get(dimension, [])
            tables.append(
                _adoption_table(
                    slug, f"{title} ({on})", label, rows, sum(sites for _, sites in rows)
                )
            )
    return Page(
        slug="installs",
        title="Installs and version adoption",
        note="From the update checks' install statistics. Version adoption is the chosen "
        "product's last rolled-up day up to the end of the range.",
        tables=tables,
        products=products,
        product=chosen,
    )


PageBuilder = Callable[..., Page]

REPORTS: dict[str, tuple[str, PageBuilder]] = {
    "sales": ("Sales: revenue, new vs renewal vs upgrade, refunds", sales_page),
    "licenses": ("Licenses: active, renewal pipeline, renewal rate", licenses_page),
    "installs": ("Installs: active installs, plugin, WordPress and PHP versions", installs_page),
}


def report_page(*, slug: str, start: date, end: date, product: str = "") -> Page | None:
    """Return the report `slug` for the range, or None when there is no such report."""
    entry = REPORTS.get(slug)
    if entry is None:
        return None
    return entry[1](start=start, end=end, product=product)
