"""Staff open each report in headless Chromium: charts drawn, totals equal to the orders.

Chromium is Debian's, launched as tests/browser launches it (without it the test is skipped and
says why; under CI=true it fails). The pages run under the real CSP, so a chart that needed
inline script or a CDN would not be drawn. Screenshots:
test-artifacts/browser/<test name>/NN-<step>.png.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.db.models import Sum

from apps.store.models import Order
from tests.browser.conftest import ARTIFACTS, CHROMIUM_ARGS, Shots, _chromium, _ci, browser_missing
from tests.reports.seed import PASSWORD, reports_seed, staff_make

# Without playwright the page fixture skips the test (under CI=true: fails it) and says why.
with contextlib.suppress(ImportError):
    from playwright.sync_api import expect

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)

# Every canvas on the page has its Chart.js instance and some painted pixels.
CHARTS_DRAWN = """() => {
  const canvases = [...document.querySelectorAll("canvas[data-chart]")];
  return canvases.length > 0 && typeof Chart !== "undefined" && canvases.every((canvas) => {
    if (!Chart.getChart(canvas) || canvas.width === 0 || canvas.height === 0) return false;
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
    return false;
  });
}"""

CHART_SUMS = """(id) => Chart.getChart(document.getElementById(id)).data.datasets.map(
  (dataset) => ({label: dataset.label, sum: dataset.data.reduce((a, b) => a + b, 0)}))"""


@pytest.fixture
def page(
    request: pytest.FixtureRequest, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Page]:
    """A headless Chromium page, 1280x900; its last state is saved when the test fails."""
    missing = browser_missing()
    if missing is not None:
        if _ci():
            pytest.fail(f"CI=true needs the browser tests, but {missing}", pytrace=False)
        pytest.skip(f"browser tests need headless Chromium: {missing}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an asyncio loop on this thread; the test's ORM calls are sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(
                accept_downloads=True, viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            chromium.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    folder: Path = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Shots(folder)


def charts_drawn(page: Page) -> int:
    """Wait until every chart on the page is drawn; return how many there are."""
    page.wait_for_function(CHARTS_DRAWN)
    count: int = page.locator("canvas[data-chart]").count()
    return count


def test_staff_open_each_report_with_its_charts_drawn_and_totals_from_the_orders(
    page: Page, shots: Shots, live_server: LiveServer
) -> None:
    reports_seed()
    staff_make()
    paid = Order.objects.filter(paid_at__isnull=False)
    paid_total = paid.aggregate(total=Sum("total"))["total"]
    refunded_total = Order.objects.filter(status="refunded").aggregate(total=Sum("total"))["total"]
    assert paid_total and refunded_total

    page.goto(f"{live_server.url}/admin/")
    page.locator("#id_username").fill("boss")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator(".app-reports .model-report").get_by_role("link", name="Reports").click()
    expect(page.locator("#report-sales")).to_be_visible()
    shots.take(page, "reports-index")

    # Sales: revenue per day, per product, by kind, refunds.
    page.locator("#report-sales").click()
    assert charts_drawn(page) == 4
    shots.take(page, "sales")
    revenue: list[dict[str, Any]] = page.evaluate(CHART_SUMS, "chart-revenue-per-day")
    assert [d["label"] for d in revenue] == ["USD"]
    assert round(revenue[0]["sum"] * 100) == paid_total
    by_product: list[dict[str, Any]] = page.evaluate(CHART_SUMS, "chart-revenue-per-product")
    assert round(by_product[0]["sum"] * 100) == paid_total
    refunds: list[dict[str, Any]] = page.evaluate(CHART_SUMS, "chart-refunds-per-day")
    assert round(refunds[0]["sum"] * 100) == refunded_total
    # The table under the chart says the same.
    cells = page.locator("#table-revenue-per-day tbody td:last-child").all_inner_texts()
    assert round(sum(float(cell) for cell in cells) * 100) == paid_total
    # Its CSV link downloads the table.
    with page.expect_download() as download:
        page.locator("#report-revenue-per-day a.report-csv").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0] == ["Day", "Currency", "Orders", "Revenue"]
    assert round(sum(float(row[3]) for row in rows[1:]) * 100) == paid_total

    # Licenses: active, the renewal pipeline, the renewal rate.
    page.get_by_role("navigation", name="Reports").get_by_role("link", name="Licenses").click()
    assert charts_drawn(page) == 3
    shots.take(page, "licenses")
    pipeline: list[dict[str, Any]] = page.evaluate(CHART_SUMS, "chart-renewal-pipeline")
    assert [d["sum"] for d in pipeline] == [1, 1, 1]

    # Installs: active installs per day, then Formwell's plugin, WordPress and PHP versions.
    page.get_by_role("navigation", name="Reports").get_by_role("link", name="Installs").click()
    page.locator("#id_product").select_option(label="Formwell")
    page.get_by_role("button", name="Show").click()
    assert charts_drawn(page) == 4
    shots.take(page, "installs")
    php: list[dict[str, Any]] = page.evaluate(CHART_SUMS, "chart-php-versions")
    assert php == [{"label": "Sites", "sum": 42}]
