"""Twenty identical checkout submissions at the same moment make one order (MariaDB)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from apps.core.models import OutboxEvent
from apps.licenses.models import License
from apps.store.models import Coupon, Order, Payment
from tests.builders import checkout_form, shop_create

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]


def test_twenty_concurrent_identical_submissions_make_one_order_and_one_payment() -> None:
    shop = shop_create()
    Coupon.objects.create(code="SALE", kind="percent", value=10, usage_limit=5)
    browser = Client()
    browser.post("/cart/add/", {"tier": shop.business.pk})
    browser.post("/cart/coupon/", {"code": "SALE"})
    form = checkout_form(browser)
    start = threading.Barrier(20)

    def submit(_: int) -> tuple[int, str]:
        # Each thread is a copy of the same browser tab: same session cookie, same form.
        client = Client()
        client.cookies = browser.cookies
        try:
            start.wait(timeout=30)
            response = client.post("/checkout/", form)
            return response.status_code, response.get("Location", "")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(submit, range(20)))

    order = Order.objects.get()
    assert order.status == "paid" and order.total == 8910
    assert {status for status, _ in results} == {303}
    assert {location for _, location in results} == {
        f"/orders/{order.number}/?key={order.access_key}"
    }
    assert Payment.objects.count() == 1
    assert Coupon.objects.get().times_used == 1
    assert OutboxEvent.objects.filter(name="store.OrderPaid").count() == 1
    assert License.objects.count() == 1
