"""Business metrics: what a purchase and a refund through the real pipeline show in /metrics.

The web role's /metrics is read before and after, and the test compares the differences with
what it caused: orders, revenue, licenses and e-mails (read from the database at scrape time),
activations, download refusals and update checks (counted in process). Task results, retries
and run times are counted in the worker, a real prefork worker on RabbitMQ here, and read
from that worker's own exporter (DEPOT_WORKER_METRICS_PORT), the way Prometheus scrapes it.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from apps.core.models import OutboxEvent
from apps.licenses.selectors import license_key_reveal
from apps.notifications.models import EmailLog
from apps.notifications.tasks import receipt_send_task, refund_notice_send_task
from apps.store.models import Order
from apps.store.services import order_refund
from apps.store.tasks import order_fulfil_task
from tests.builders import SITE, WP_UA, buy, license_make, product_make, shop_create
from tests.conftest import Workers
from tests.helpers import free_port, wait_until
from tests.smtp_sink import SlowHandler, SmtpSink

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    return parse(response.content.decode())


def worker_scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return parse(response.read().decode())


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """A sample's value, or None when the scrape does not have it."""
    return samples.get((name, tuple(sorted(labels.items()))))


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a counter grew; it must be in the later scrape (absent before counts as 0)."""
    now = value(after, name, **labels)
    assert now is not None, f"{name}{labels} is not in /metrics"
    return now - (value(before, name, **labels) or 0.0)


def _activate(client: Client, key: str, site: str):
    body = {"license_key": key, "slug": "formwell", "site_url": site}
    return client.post(
        "/updates/v1/licenses/activate",
        json.dumps(body),
        content_type="application/json",
        HTTP_USER_AGENT=WP_UA,
    )


def _mail(dedupe_key: str) -> EmailLog | None:
    return EmailLog.objects.filter(dedupe_key=dedupe_key).first()


@pytest.fixture
def uncached(settings) -> None:
    settings.DEPOT_METRICS_CACHE_SECONDS = 0
    settings.DEPOT_PAYMENT_GATEWAY = "test"


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_a_purchase_and_a_refund_show_in_every_business_metric(
    celery_workers: Workers, uncached: None, tmp_path: Path
) -> None:
    # Given a shop, the web role's metrics now, and a mail server that is not up yet
    shop = shop_create()
    web = Client()
    before = scrape(web)
    smtp = SmtpSink(SlowHandler())

    # When a customer buys the personal tier (no worker yet: the events wait)
    assert buy(Client(), shop.personal).status_code == 303
    order = Order.objects.get()
    waiting = OutboxEvent.objects.filter(dispatched_at__isnull=True).count()
    queued = scrape(web)

    # Then the outbox gauges show the waiting events
    assert waiting >= 1
    assert value(queued, "depot_outbox_undelivered") == waiting
    assert (value(queued, "depot_outbox_oldest_undelivered_age_seconds") or 0) >= 0
    assert delta(before, queued, "depot_orders_placed_total", currency="USD") == 1
    assert delta(before, queued, "depot_orders_paid_total", currency="USD") == 1

    # When a prefork worker with its exporter runs the pipeline and the receipt fails to send
    port = free_port()
    worker = celery_workers.start(
        "--pool",
        "prefork",
        "--concurrency",
        "1",
        DEPOT_WORKER_METRICS_PORT=str(port),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "worker-metrics"),
        # The mail tasks it sends go to the queue it consumes (CELERY_TASK_ROUTES).
        DEPOT_MAIL_QUEUE=celery_workers.queue,
        **smtp.env,
    )
    receipt_key = f"receipt:order:{order.pk}"
    wait_until(lambda: (m := _mail(receipt_key)) and m.status == "failed", timeout=40)
    failing = scrape(web)
    assert value(failing, "depot_emails_failed", template="receipt") == 1

    # ... until the mail server is up, when a retry sends it
    with smtp:
        wait_until(lambda: _mail(receipt_key).status == "sent", timeout=60)  # type: ignore[union-attr]
        license = order.lines.get().license_id
        assert license is not None
        from apps.licenses.models import License

        key = license_key_reveal(license=License.objects.get(pk=license))

        # ... and the site activates the license, a second site finds no slot left, a forged
        # download link is refused and a check asks about a product nobody sells
        updates = Client()
        assert _activate(updates, key, SITE).status_code == 200
        assert _activate(updates, key, "https://second.example.com/").status_code == 409
        forged = updates.get(
            "/updates/download/not-a-token/formwell-1.0.zip", HTTP_USER_AGENT=WP_UA
        )
        assert forged.json()["code"] == "token_invalid"
        assert updates.get("/updates/puc/nothing-here/", HTTP_USER_AGENT=WP_UA).status_code == 404

        # ... and the order is refunded, which revokes the license and mails a notice
        order_refund(order_id=order.pk)
        refund_key = f"refund:order:{order.pk}"
        wait_until(lambda: (m := _mail(refund_key)) and m.status == "sent", timeout=40)
    after = scrape(web)

    # Then every business figure on the web role grew by what this test did
    assert delta(before, after, "depot_orders_placed_total", currency="USD") == 1
    assert delta(before, after, "depot_orders_paid_total", currency="USD") == 1
    assert delta(before, after, "depot_orders_refunded_total", currency="USD") == 1
    assert delta(before, after, "depot_revenue_minor_units_total", currency="USD") == 4900
    assert delta(before, after, "depot_refunds_minor_units_total", currency="USD") == 4900
    assert delta(before, after, "depot_licenses_issued_total", product="formwell") == 1
    assert value(after, "depot_licenses_revoked", product="formwell") == 1
    assert delta(before, after, "depot_emails_sent_total", template="receipt") == 1
    assert delta(before, after, "depot_emails_sent_total", template="refund_notice") == 1
    assert value(after, "depot_emails_failed", template="receipt") == 0
    assert delta(before, after, "depot_license_actions_total", action="activate", result="ok") == 1
    assert (
        delta(
            before,
            after,
            "depot_license_actions_total",
            action="activate",
            result="no_activations_left",
        )
        == 1
    )
    assert delta(before, after, "depot_downloads_total", result="token_invalid") == 1
    assert (
        delta(before, after, "depot_update_checks_total", dialect="puc", outcome="unknown_product")
        == 1
    )
    assert (
        value(after, "depot_outbox_undelivered")
        == OutboxEvent.objects.filter(dispatched_at__isnull=True).count()
    )

    # And the worker's own exporter counted each task once, and the receipt's retries
    receipt = _mail(receipt_key)
    assert receipt is not None and receipt.attempts >= 2
    tasks = worker_scrape(port)
    for task in (order_fulfil_task, receipt_send_task, refund_notice_send_task):
        assert value(tasks, "depot_task_results_total", task=task.name, result="success") == 1
        assert value(tasks, "depot_task_duration_seconds_count", task=task.name) is not None
    assert value(tasks, "depot_task_retries_total", task=receipt_send_task.name) == (
        receipt.attempts - 1
    )
    assert value(
        tasks, "depot_task_results_total", task=receipt_send_task.name, result="failure"
    ) in (
        None,
        0,
    )
    assert worker.process.poll() is None


@pytest.mark.django_db
def test_database_figures_are_cached_for_the_window_then_read_again(settings) -> None:
    # Given a product, and a scrape that read the licenses with the cache on
    settings.DEPOT_METRICS_CACHE_SECONDS = 30
    product = product_make()
    client = Client()
    from django.core.cache import cache

    cache.clear()
    first = value(scrape(client), "depot_licenses_issued_total", product="formwell")

    # When a license is issued
    license_make(product)

    # Then a scrape within the window answers from the cache, and one without it sees the license
    assert value(scrape(client), "depot_licenses_issued_total", product="formwell") == first
    settings.DEPOT_METRICS_CACHE_SECONDS = 0
    assert value(scrape(client), "depot_licenses_issued_total", product="formwell") == 1


@pytest.fixture
def database_unreachable(transactional_db: None) -> Iterator[None]:
    """Point this process's connection at a port nothing listens on; put it back after."""
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.real_services
def test_with_the_database_unreachable_its_figures_are_left_out_not_zero(
    uncached: None, database_unreachable: None
) -> None:
    samples = scrape(Client())

    names = {name for name, _ in samples}
    for name in (
        "depot_orders_paid_total",
        "depot_revenue_minor_units_total",
        "depot_licenses_issued_total",
        "depot_emails_sent_total",
        "depot_outbox_undelivered",
    ):
        assert name not in names
    # The process's own counters are still there.
    assert "django_http_requests_before_middlewares_total" in names
