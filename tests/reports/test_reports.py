"""The admin's reports: who may see them, what each table says, its CSV, its query count."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from apps.reports.router import ReportReadRouter, report_reads
from apps.store.models import Order
from tests.builders import shop_create
from tests.reports.seed import PASSWORD, reports_seed, staff_make

pytestmark = pytest.mark.django_db(transaction=True)

REPORTS = "/admin/reports/report/"
# A page's queries: the admin's session and user, then a fixed number per report whatever the
# number of products, orders or days (one per table; installs: the product list and the day
# its versions were last rolled up).
ADMIN_QUERIES = 2
REPORT_QUERIES = {"sales": 4, "licenses": 3, "installs": 4}


@pytest.fixture
def staff() -> Client:
    staff_make()
    client = Client()
    assert client.login(username="boss", password=PASSWORD)
    return client


def chart_of(html: str, table: str) -> dict[str, Any]:
    match = re.search(
        rf'<script id="chart-data-{table}" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, f"no chart data for {table}"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def csv_rows(client: Client, url: str) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_admin_index_lists_reports_for_staff(staff: Client) -> None:
    index = staff.get("/admin/").content.decode()
    assert f'href="{REPORTS}"' in index

    page = staff.get(REPORTS).content.decode()

    for slug in ("sales", "licenses", "installs"):
        assert f'href="{REPORTS}{slug}/"' in page


def test_reports_are_closed_to_customers_and_to_staff_without_the_permission() -> None:
    from django.contrib.auth.models import User

    User.objects.create_user("ada", password=PASSWORD)
    User.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    anonymous, customer, clerk = Client(), Client(), Client()
    customer.login(username="ada", password=PASSWORD)
    clerk.login(username="clerk", password=PASSWORD)

    for client in (anonymous, customer):
        response = client.get(f"{REPORTS}sales/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert clerk.get(f"{REPORTS}sales/").status_code == 403
    assert clerk.get(f"{REPORTS}sales/revenue-per-day.csv").status_code == 403


@pytest.mark.parametrize("slug", ["sales", "licenses", "installs"])
def test_each_report_page_costs_a_bounded_number_of_queries(
    staff: Client, slug: str, django_assert_max_num_queries: Any
) -> None:
    reports_seed()
    # More products and more days must not cost more queries.
    for n in range(3):
        shop_create(f"extra-{n}")

    bound = ADMIN_QUERIES + REPORT_QUERIES[slug]
    with django_assert_max_num_queries(bound):
        response = staff.get(f"{REPORTS}{slug}/", {"start": "2000-01-01", "end": "2000-12-31"})
    assert response.status_code == 200
    with django_assert_max_num_queries(bound):
        response = staff.get(f"{REPORTS}{slug}/")
    assert response.status_code == 200
    assert response.content.decode().count("<canvas") >= 1


def test_the_revenue_chart_adds_up_to_the_orders_paid_in_the_range(staff: Client) -> None:
    reports_seed()
    paid = Order.objects.filter(paid_at__isnull=False)
    expected = paid.aggregate(total=Sum("total"))["total"]

    html = staff.get(f"{REPORTS}sales/").content.decode()

    chart = chart_of(html, "revenue-per-day")
    (usd,) = chart["datasets"]
    assert round(sum(usd["data"]) * 100) == expected
    assert len(chart["labels"]) == 30  # the default range: the last 30 days
    refunds = chart_of(html, "refunds-per-day")
    assert round(sum(refunds["datasets"][0]["data"]) * 100) == 9900


def test_sales_csv_exports_say_what_was_sold_by_product_and_kind(staff: Client) -> None:
    reports_seed()
    renewal = Order.objects.get(lines__kind="renewal").total
    upgrade = Order.objects.get(lines__kind="upgrade").total

    by_product = csv_rows(staff, f"{REPORTS}sales/revenue-per-product.csv")
    by_kind = csv_rows(staff, f"{REPORTS}sales/sales-by-kind.csv")

    def money(minor: int) -> str:
        return f"{minor // 100}.{minor % 100:02d}"

    assert by_product[0] == ["Product", "Slug", "Currency", "Lines", "Revenue"]
    assert sorted(by_product[1:]) == sorted(
        [
            ["Searchlight SEO", "searchlight", "USD", "2", "398.00"],
            ["Formwell", "formwell", "USD", "3", money(4900 + renewal + upgrade)],
        ]
    )
    assert by_kind == [
        ["Kind", "Currency", "Lines", "Revenue"],
        ["New license", "USD", "3", "447.00"],
        ["Renewal", "USD", "1", money(renewal)],
        ["Upgrade", "USD", "1", money(upgrade)],
    ]


def test_the_licenses_report_shows_active_licenses_pipeline_and_renewal_rate(
    staff: Client,
) -> None:
    reports_seed()

    active = csv_rows(staff, f"{REPORTS}licenses/active-licenses.csv")
    pipeline = csv_rows(staff, f"{REPORTS}licenses/renewal-pipeline.csv")
    rate = csv_rows(staff, f"{REPORTS}licenses/renewal-rate.csv")

    # Formwell: Ada's (renewed, upgraded) and the three due; Searchlight: the lifetime one
    # (the refunded order's license was revoked).
    assert active[1:] == [["Formwell", "4", "0"], ["Searchlight SEO", "1", "1"]]
    assert pipeline[1:] == [
        ["Formwell", "1", "1", "1", "3"],
        ["Searchlight SEO", "0", "0", "0", "0"],
    ]
    # Ada's expired ten days ago and was renewed; lapsed@ expired twenty days ago and was not.
    assert rate[1:] == [
        ["Formwell", "2", "1", "1", "50.0"],
        ["Searchlight SEO", "0", "0", "0", ""],
        ["All products", "2", "1", "1", "50.0"],
    ]


def test_the_installs_report_shows_installs_and_version_adoption(staff: Client) -> None:
    reports_seed()

    html = staff.get(f"{REPORTS}installs/", {"product": "formwell"}).content.decode()
    installs = csv_rows(staff, f"{REPORTS}installs/active-installs.csv")
    php = csv_rows(staff, f"{REPORTS}installs/php-versions.csv?product=formwell")

    chart = chart_of(html, "active-installs")
    assert {d["label"]: d["data"][-3:] for d in chart["datasets"]} == {
        "Formwell": [40, 42, 45],
        "Searchlight SEO": [20, 21, 22],
    }
    assert len(installs) == 1 + 6
    assert php == [["PHP", "Sites", "Share %"], ["8.2", "25", "59.5"], ["7.4", "17", "40.5"]]
    assert chart_of(html, "wordpress-versions")["labels"] == ["6.7.1", "6.5.5"]


def test_a_date_range_narrows_the_sales_and_a_wrong_one_says_what_to_fix(staff: Client) -> None:
    reports_seed()
    today = timezone.now().date()
    yesterday = (today - timedelta(days=1)).isoformat()

    narrow = staff.get(
        f"{REPORTS}sales/revenue-per-day.csv", {"start": yesterday, "end": yesterday}
    )
    backwards = staff.get(f"{REPORTS}sales/", {"start": today.isoformat(), "end": yesterday})
    garbage = staff.get(f"{REPORTS}sales/", {"start": "yesterday"})
    too_long = staff.get(f"{REPORTS}sales/", {"start": "2000-01-01", "end": today.isoformat()})

    assert list(csv.reader(io.StringIO(narrow.content.decode())))[1:] == [
        [yesterday, "USD", "1", "299.00"]
    ]
    assert backwards.status_code == 200
    assert "The start date must not be after the end date." in backwards.content.decode()
    assert "Enter a valid date." in garbage.content.decode()
    assert "Choose at most 366 days." in too_long.content.decode()
    for response in (backwards, garbage, too_long):
        assert len(chart_of(response.content.decode(), "revenue-per-day")["labels"]) == 30


def test_a_csv_cell_never_starts_a_spreadsheet_formula(staff: Client) -> None:
    shop = shop_create("evil", name='=HYPERLINK("https://evil.example")')
    from tests.builders import buy

    assert buy(Client(), shop.personal, email="x@example.com").status_code == 303

    rows = csv_rows(staff, f"{REPORTS}sales/revenue-per-product.csv")

    assert rows[1][0] == '\'=HYPERLINK("https://evil.example")'


def test_unknown_reports_and_tables_are_not_found(staff: Client) -> None:
    assert staff.get(f"{REPORTS}nope/").status_code == 404
    assert staff.get(f"{REPORTS}sales/nope.csv").status_code == 404


def test_report_reads_go_to_the_replica_only_inside_a_report(settings: Any) -> None:
    router = ReportReadRouter()
    settings.DATABASES = {**settings.DATABASES, "replica": settings.DATABASES["default"]}

    with report_reads():
        inside = router.db_for_read(Order)
        writes = router.db_for_write(Order)
    outside = router.db_for_read(Order)

    assert (inside, writes, outside) == ("replica", None, None)
    assert settings.DATABASE_ROUTERS == ["apps.reports.router.ReportReadRouter"]


def test_without_a_replica_report_reads_stay_on_the_primary() -> None:
    with report_reads():
        assert ReportReadRouter().db_for_read(Order) is None


def test_a_report_page_reads_its_figures_through_the_report_router(
    staff: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.reports import router

    flagged: set[str] = set()
    db_for_read = ReportReadRouter.db_for_read

    def spy(self: ReportReadRouter, model: type[Any], **hints: Any) -> str | None:
        if router._report_reads.get():
            flagged.add(model._meta.label)
        return db_for_read(self, model, **hints)

    monkeypatch.setattr(ReportReadRouter, "db_for_read", spy)

    for slug in ("sales", "licenses", "installs"):
        assert staff.get(f"{REPORTS}{slug}/").status_code == 200

    assert {"store.Order", "store.OrderLine", "licenses.Product", "licenses.License"} <= flagged
    assert not router._report_reads.get()  # reset once the page is built


def test_report_pages_run_no_inline_script_under_the_csp(staff: Client) -> None:
    reports_seed()

    response = staff.get(f"{REPORTS}sales/")

    policy = response["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy
        and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert any("reports/chart.umd.js" in tag for tag in scripts)
    # Every script is a file from this origin or chart data (JSON, never run).
    assert all('src="/static/' in tag or 'type="application/json"' in tag for tag in scripts)
