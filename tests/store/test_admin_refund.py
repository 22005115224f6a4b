"""The admin's "Refund selected orders" action, and the store's admin pages.

Orders are bought through the checkout with the test gateway and fulfilled by the real
pipeline (outbox, then the task, run in-process); the refund goes through the changelist's
action form exactly as an admin's browser sends it.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from apps.core.models import OutboxEvent
from apps.licenses.models import License
from apps.store.models import Order, Payment, PriceTier, StripeEvent
from apps.store.services import tier_upsert
from tests.builders import APPROVED, cart_fill, product_make

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/store/order/"


@pytest.fixture
def tier(db: None, settings) -> PriceTier:
    settings.DEPOT_PAYMENT_GATEWAY = "test"
    product = product_make()
    return tier_upsert(product=product, name="Personal", sites_allowed=1, term="year", amount=4900)


@pytest.fixture
def buy(client, tier, django_capture_on_commit_callbacks):
    """Buy `tier` through the checkout as a new guest; `card` None: declined, left unpaid."""

    def make(token: str, *, card: str | None = APPROVED) -> Order:
        cart_fill(client, tier)
        form = {
            "checkout_token": token,
            "email": f"{token[:8]}@example.com",
            "name": "Ada Buyer",
            "country": "GB",
            "card_number": card or "4242 4242 4242 4241",  # fails Luhn: declined, unpaid
            "card_expiry": "12/40",
            "card_cvc": "123",
        }
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/checkout/", form)
        client.logout()
        return Order.objects.get(checkout_token=token)

    return make


def _refund(client, *orders: Order):
    response = client.post(
        CHANGELIST,
        {
            "action": "refund_orders",
            "_selected_action": [order.pk for order in orders],
            "index": 0,
            "select_across": 0,
        },
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def _license_statuses(order: Order) -> list[str]:
    return list(
        License.objects.filter(order_line_id__in=order.lines.values("pk")).values_list(
            "status", flat=True
        )
    )


def _refunded_events(order: Order) -> int:
    return sum(
        1
        for row in OutboxEvent.objects.filter(name="store.OrderRefunded")
        if row.payload == {"order_id": order.pk}
    )


def test_refunding_a_paid_order_revokes_its_licenses_and_announces_it(buy, client):
    # Given
    order = buy("paid-order-token-000001")
    assert order.status == Order.Status.PAID
    assert _license_statuses(order) == [License.Status.ACTIVE]
    superuser = User.objects.create_superuser("boss", "boss@example.com", "x")
    client.force_login(superuser)

    # When
    messages = _refund(client, order)

    # Then
    assert messages == [f"Order {order.number} refunded; its licenses are revoked."]
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert order.refunded_at is not None
    assert _license_statuses(order) == [License.Status.REVOKED]
    assert _refunded_events(order) == 1
    refund = order.payments.get(status=Payment.Status.REFUNDED)
    assert (refund.gateway, refund.amount, refund.idempotency_key) == (
        "test",
        4900,
        f"refund-{order.number}",
    )
    assert refund.error == "Refunded in the admin by boss"


def test_an_unpaid_order_is_not_refunded_and_the_message_says_why(buy, client):
    # Given
    order = buy("pending-order-token-0001", card=None)
    assert order.status == Order.Status.FAILED
    payments_before = list(order.payments.values_list("pk", "status"))
    client.force_login(User.objects.create_superuser("boss", "boss@example.com", "x"))

    # When
    messages = _refund(client, order)

    # Then
    assert messages == [
        f"Order {order.number} was not refunded: Order {order.number} has not been paid: "
        "there is nothing to refund."
    ]
    refreshed = Order.objects.get(pk=order.pk)
    assert (refreshed.status, refreshed.refunded_at) == (Order.Status.FAILED, None)
    assert list(refreshed.payments.values_list("pk", "status")) == payments_before
    assert _refunded_events(order) == 0


def test_refunding_twice_changes_nothing_the_second_time(buy, client):
    # Given
    order = buy("twice-order-token-000001")
    client.force_login(User.objects.create_superuser("boss", "boss@example.com", "x"))
    _refund(client, order)
    refunded_at = Order.objects.get(pk=order.pk).refunded_at

    # When
    messages = _refund(client, order)

    # Then
    assert messages == [f"Order {order.number} was already refunded; nothing changed."]
    order.refresh_from_db()
    assert (order.status, order.refunded_at) == (Order.Status.REFUNDED, refunded_at)
    assert order.payments.filter(status=Payment.Status.REFUNDED).count() == 1
    assert _refunded_events(order) == 1


def test_each_selected_order_gets_its_own_message(buy, client):
    # Given
    paid = buy("mixed-paid-token-0000001")
    pending = buy("mixed-pending-token-0001", card=None)
    client.force_login(User.objects.create_superuser("boss", "boss@example.com", "x"))

    # When
    messages = _refund(client, paid, pending)

    # Then
    assert sorted(messages) == sorted(
        [
            f"Order {paid.number} refunded; its licenses are revoked.",
            f"Order {pending.number} was not refunded: Order {pending.number} has not been "
            "paid: there is nothing to refund.",
        ]
    )
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses == {paid.pk: Order.Status.REFUNDED, pending.pk: Order.Status.FAILED}


def test_staff_without_the_change_permission_cannot_refund(buy, client):
    # Given
    order = buy("no-permission-token-0001")
    clerk = User.objects.create_user("clerk", "clerk@example.com", "x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(clerk)

    # When
    response = client.post(
        CHANGELIST,
        {"action": "refund_orders", "_selected_action": [order.pk], "index": 0},
    )

    # Then
    assert response.status_code == 200
    assert 'value="refund_orders"' not in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert _refunded_events(order) == 0


def test_the_store_admin_pages_open(buy, client):
    # Given
    order = buy("pages-order-token-000001")
    StripeEvent.objects.create(
        event_id="evt_1", type="charge.refunded", created=order.created_at, payload={"id": "evt_1"}
    )
    customer = order.customer
    assert customer is not None
    client.force_login(User.objects.create_superuser("boss", "boss@example.com", "x"))

    # When
    pages = {
        url: client.get(url)
        for url in [
            CHANGELIST,
            f"{CHANGELIST}{order.pk}/change/",
            "/admin/store/coupon/add/",
            "/admin/store/customer/",
            f"/admin/store/customer/{customer.pk}/change/",
            "/admin/store/customer/?q=example.com",
            "/admin/store/productscreenshot/",
            "/admin/store/stripeevent/",
            f"/admin/store/stripeevent/{StripeEvent.objects.get().pk}/change/",
            "/admin/store/pricetier/",
        ]
    }

    # Then
    assert {url: response.status_code for url, response in pages.items()} == dict.fromkeys(
        pages, 200
    )
    assert 'value="refund_orders"' in pages[CHANGELIST].content.decode()
    order_page = pages[f"{CHANGELIST}{order.pk}/change/"].content.decode()
    assert "Formwell" in order_page and "test_ch_" in order_page  # the line, the payment
    customer_page = pages[f"/admin/store/customer/{customer.pk}/change/"].content.decode()
    assert order.number in customer_page
    assert "Formwell" in customer_page  # the license
