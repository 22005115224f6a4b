"""The purchase pipeline on RabbitMQ with real worker processes.

Paying answers before any task runs; licenses and the receipt follow through the outbox and
Celery, exactly once, even when a worker is killed in the middle of a task. The broker
stopped during checkouts and a prefork child killed in `order_fulfil`: test_pipeline_faults.py.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.test import Client

from apps.core.models import OutboxEvent
from apps.licenses.models import License
from apps.licenses.selectors import license_key_reveal
from apps.notifications.models import EmailLog
from apps.store.models import Order
from tests.builders import buy, shop_create
from tests.conftest import Workers
from tests.helpers import wait_until
from tests.smtp_sink import SlowHandler, SmtpSink

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
