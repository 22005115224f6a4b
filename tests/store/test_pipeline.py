"""The purchase pipeline on RabbitMQ with real worker processes.

Paying answers before any task runs; licenses and the receipt follow through the outbox and
Celery, exactly once, even when the broker is down during the checkout or a worker is
killed in the middle of a task.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import Client

from apps.core.models import OutboxEvent
from apps.core.tasks import outbox_dispatch, outbox_sweep_task
from apps.licenses.models import License
from apps.licenses.selectors import license_key_reveal
from apps.notifications.models import EmailLog
from apps.store.models import Order
from tests.conftest import Workers
from tests.helpers import wait_until
from tests.smtp_sink import SlowHandler, SmtpSink
from tests.store.shop import buy, shop_create

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]


def _receipts(order: Order) -> list[EmailLog]:
    return list(EmailLog.objects.filter(dedupe_key=f"receipt:order:{order.pk}"))


def _delivered(order: Order) -> bool:
    return any(log.status == "sent" for log in _receipts(order))


def test_paying_answers_before_any_task_runs_then_the_license_and_receipt_follow(
    celery_workers: Workers,
) -> None:
    shop = shop_create()
    client = Client()

    response = buy(client, shop.business)

    # No worker is running yet: everything after the payment waits in RabbitMQ.
    assert response.status_code == 303
    order = Order.objects.get()
    assert order.status == "paid" and order.fulfilled_at is None
    assert not License.objects.exists() and not EmailLog.objects.exists()
    assert OutboxEvent.objects.get(name="store.OrderPaid").dispatched_at is None
    waiting = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in waiting and "Being issued" in waiting

    with SmtpSink(SlowHandler()) as smtp:
        celery_workers.start(**smtp.env)
        wait_until(lambda: _delivered(order), timeout=40)
        messages = smtp.wait_for(1)

    license = License.objects.get()
    assert license.order_line_id == order.lines.get().pk
    assert len(messages) == 1 and messages[0]["To"] == "ada@example.com"
    assert len(_receipts(order)) == 1
    done = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in done
    assert license_key_reveal(license=license) in done


@contextmanager
def rabbitmq_stopped() -> Iterator[None]:
    """Stop RabbitMQ's application (the node keeps running) and start it again afterwards."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("rabbitmqctl is needed to stop RabbitMQ during a checkout")
        pytest.skip("rabbitmqctl is not available")
    subprocess.run([ctl, "stop_app"], check=True, capture_output=True, timeout=60)
    try:
        yield
    finally:
        subprocess.run([ctl, "start_app"], check=True, capture_output=True, timeout=120)
        subprocess.run([ctl, "await_startup", "--timeout", "60"], check=False, capture_output=True)


def test_with_rabbitmq_down_the_order_succeeds_and_everything_arrives_once_it_is_back(
    celery_workers: Workers,
) -> None:
    shop = shop_create()
    client = Client()
    client.post("/cart/add/", {"tier": shop.personal.pk})

    with rabbitmq_stopped():
        started = time.monotonic()
        response = buy(client)
        took = time.monotonic() - started
        order = Order.objects.get()
        assert response.status_code == 303 and order.status == "paid"
        row = OutboxEvent.objects.get(name="store.OrderPaid")
        assert row.dispatched_at is None and not License.objects.exists()

    print(f"checkout with RabbitMQ stopped answered in {took:.2f} s")
    with SmtpSink(SlowHandler()) as smtp:
        celery_workers.start(**smtp.env)
        # What beat does every few seconds: re-send outbox rows nobody acknowledged.
        outbox_sweep_task.delay(older_than_seconds=0)
        wait_until(lambda: _delivered(order), timeout=60)
        # A second sweep and a duplicated delivery of the same row change nothing.
        outbox_sweep_task.delay(older_than_seconds=0)
        outbox_dispatch.delay(outbox_id=row.pk)
        time.sleep(3)
        messages = smtp.wait_for(1)

    assert License.objects.count() == 1
    assert len(_receipts(order)) == 1 and len(messages) == 1
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).count() == 0


def test_a_worker_killed_in_the_middle_of_a_task_loses_and_duplicates_nothing(
    celery_workers: Workers,
) -> None:
    shop = shop_create()
    handler = SlowHandler(rcpt_delay=30)
    with SmtpSink(handler) as smtp:
        first = celery_workers.start(**smtp.env)

        response = buy(Client(), shop.personal)
        assert response.status_code == 303
        order = Order.objects.get()
        # The receipt task is talking to the (slow) mail server: kill the worker now.
        assert handler.waiting.wait(timeout=40), celery_workers.logs()
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
        assert not _delivered(order) and handler.messages == []

        handler.rcpt_delay = 0
        celery_workers.start(**smtp.env)
        # RabbitMQ hands the unacknowledged message (acks_late) to the new worker.
        wait_until(lambda: _delivered(order), timeout=60)
        messages = smtp.wait_for(1)
        time.sleep(2)

    assert License.objects.count() == 1
    assert len(_receipts(order)) == 1 and len(messages) == 1
    assert len(handler.messages) == 1
