"""Checkout through the storefront: cart, coupons, the test gateway, one order per form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.licenses.models import License
from apps.store.models import Coupon, Order, Payment
from tests.builders import DECLINED, buy, checkout_form, shop_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_guest_buys_a_tier_and_the_confirmation_shows_the_key() -> None:
    shop = shop_create()
    client = Client()

    response = buy(client, shop.business)

    assert response.status_code == 303
    order = Order.objects.get()
    assert response["Location"] == f"/orders/{order.number}/?key={order.access_key}"
    assert (order.status, order.total, order.currency) == ("paid", 9900, "USD")
    assert order.customer is not None and order.customer.email == "ada@example.com"
    assert not order.customer.has_usable_password()
    payment = Payment.objects.get()
    assert (payment.status, payment.amount, payment.gateway) == ("succeeded", 9900, "test")
    # Tasks run in-process after commit here, so the license exists by the time we look.
    license = License.objects.get()
    assert (license.activation_limit, license.customer_id) == (5, order.customer.pk)
    page = client.get(response["Location"])
    assert page.status_code == 200
    from apps.licenses.selectors import license_key_reveal

    assert license_key_reveal(license=license) in page.content.decode()
    # The account's password is set from the receipt's link only (the mailbox proves it).
    assert "Set a password" not in page.content.decode()
    assert client.get("/cart/").context["cart"].is_empty


def test_a_declined_card_fails_the_order_and_the_same_form_can_pay_again() -> None:
    shop = shop_create()
    client = Client()
    client.post("/cart/add/", {"tier": shop.personal.pk})
    form = checkout_form(client, card_number=DECLINED)

    declined = client.post("/checkout/", form)

    assert declined.status_code == 402
    assert "Your card was declined." in declined.content.decode()
    order = Order.objects.get()
    assert order.status == "failed"
    assert list(Payment.objects.values_list("status", flat=True)) == ["declined"]
    assert not OutboxEvent.objects.exists() and not License.objects.exists()

    paid = client.post("/checkout/", {**form, "card_number": "4242424242424242"})

    assert paid.status_code == 303
    assert Order.objects.get().status == "paid"  # the same order, not a second one
    assert sorted(Payment.objects.values_list("status", flat=True)) == ["declined", "succeeded"]


def test_a_double_submitted_form_makes_one_order_and_one_payment() -> None:
    shop = shop_create()
    client = Client()
    client.post("/cart/add/", {"tier": shop.personal.pk})
    form = checkout_form(client)

    first = client.post("/checkout/", form)
    second = client.post("/checkout/", form)

    assert first.status_code == second.status_code == 303
    assert first["Location"] == second["Location"]
    assert Order.objects.count() == 1 and Payment.objects.count() == 1
    assert License.objects.count() == 1
    assert OutboxEvent.objects.filter(name="store.OrderPaid").count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-address", "Enter a valid email address."),
        ("card_number", "4242 4242 4242 4241", "This card number is not valid"),
        ("card_expiry", "13/30", "The month must be between 01 and 12."),
        ("card_expiry", "01/20", "This card has expired."),
        ("card_cvc", "12a", "The CVC is the 3 or 4 digits"),
        ("country", "XX", "Select a valid choice."),
    ],
)
def test_bad_checkout_input_says_what_to_fix_and_writes_nothing_paid(
    field: str, value: str, message: str
) -> None:
    shop = shop_create()
    client = Client()
    client.post("/cart/add/", {"tier": shop.personal.pk})

    response = client.post("/checkout/", checkout_form(client, **{field: value}))

    assert response.status_code in (400, 402)
    assert message in response.content.decode()
    assert not Order.objects.filter(status="paid").exists()
    assert not Payment.objects.filter(status="succeeded").exists()
    assert not License.objects.exists()


def test_a_percent_coupon_discounts_and_counts_one_use() -> None:
    shop = shop_create()
    Coupon.objects.create(code="launch25", kind="percent", value=25)
    client = Client()

    response = buy(client, shop.business, coupon="LAUNCH25")

    assert response.status_code == 303
    order = Order.objects.get()
    assert (order.subtotal, order.discount, order.total) == (9900, 2475, 7425)
    assert order.coupon is not None and order.coupon.code == "LAUNCH25"
    assert Coupon.objects.get().times_used == 1
    assert Payment.objects.get().amount == 7425


def test_a_fixed_coupon_for_one_product_discounts_only_that_product() -> None:
    shop = shop_create()
    other = shop_create("seoshine")
    coupon = Coupon.objects.create(code="FORMS10", kind="fixed", value=1000, all_products=False)
    coupon.products.add(shop.product)
    client = Client()

    buy(client, shop.personal, other.personal, coupon="forms10")

    order = Order.objects.get()
    assert (order.subtotal, order.discount, order.total) == (9800, 1000, 8800)
    by_product = {line.product.slug: line for line in order.lines.all()}
    assert (by_product["formwell"].discount, by_product["seoshine"].discount) == (1000, 0)


def test_a_coupon_larger_than_the_cart_makes_a_free_order_without_a_payment() -> None:
    shop = shop_create()
    Coupon.objects.create(code="FREE", kind="percent", value=100)

    response = buy(Client(), shop.personal, coupon="FREE")

    assert response.status_code == 303
    order = Order.objects.get()
    assert (order.total, order.status, order.gateway) == (0, "paid", "free")
    assert not Payment.objects.exists()
    assert License.objects.count() == 1


@pytest.mark.parametrize(
    ("coupon", "message"),
    [
        (
            dict(code="OLD", expires_at=timezone.now() - timedelta(days=1)),
            "This coupon has expired.",
        ),
        (dict(code="OLD", usage_limit=1, times_used=1), "This coupon has been used up."),
        (dict(code="OLD", is_active=False), "This coupon code does not exist."),
    ],
)
def test_an_unusable_coupon_is_refused_with_its_reason(coupon: dict, message: str) -> None:
    shop = shop_create()
    Coupon.objects.create(kind="percent", value=50, **coupon)
    client = Client()
    client.post("/cart/add/", {"tier": shop.personal.pk})

    response = client.post("/cart/coupon/", {"code": "old"}, follow=True)

    assert message in response.content.decode()
    assert response.context["cart"].discount == 0


def test_the_last_use_of_a_coupon_goes_to_one_order() -> None:
    shop = shop_create()
    Coupon.objects.create(code="ONCE", kind="percent", value=50, usage_limit=1)
    first, second = Client(), Client()
    for client in (first, second):
        client.post("/cart/add/", {"tier": shop.personal.pk})
        client.post("/cart/coupon/", {"code": "ONCE"})
    forms = [checkout_form(first), checkout_form(second, email="bob@example.com")]

    assert first.post("/checkout/", forms[0]).status_code == 303
    refused = second.post("/checkout/", forms[1])

    assert refused.status_code == 400
    assert "This coupon has been used up." in refused.content.decode()
    assert Order.objects.count() == 1 and Coupon.objects.get().times_used == 1


def test_checkout_with_an_empty_cart_goes_back_to_the_cart() -> None:
    response = Client().get("/checkout/")

    assert response.status_code == 302 and response["Location"] == "/cart/"


def test_a_returning_customer_checking_out_as_a_guest_gets_the_order_in_their_account() -> None:
    shop = shop_create()
    existing = User.objects.create_user("ada", email="Ada@Example.com", password="s3cret-pass")

    response = buy(Client(), shop.personal)

    order = Order.objects.get()
    assert order.customer == existing
    assert User.objects.count() == 1
    page = Client().get(response["Location"])
    assert page.status_code == 200 and "Set a password" not in page.content.decode()


def test_someone_else_cannot_open_the_confirmation_without_its_key() -> None:
    shop = shop_create()
    buy(Client(), shop.personal)
    order = Order.objects.get()

    assert Client().get(f"/orders/{order.number}/").status_code == 404
    assert Client().get(f"/orders/{order.number}/?key=wrong").status_code == 404
    assert Client().get(f"/orders/{order.number}/?key={order.access_key}").status_code == 200


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("4000 0000 0000 9995", "Your card has insufficient funds."),
        ("4000 0000 0000 0069", "Your card has expired."),
    ],
)
def test_each_documented_declining_card_is_refused_with_its_reason(
    number: str, message: str
) -> None:
    shop = shop_create()

    response = buy(Client(), shop.personal, card_number=number)

    assert response.status_code == 402 and message in response.content.decode()
    assert Order.objects.get().status == "failed" and not License.objects.exists()
