"""Who may claim an account: only whoever reads the mailbox of its e-mail.

The attack these tests replay: a stranger checks out as a guest with a victim's e-mail, takes
the set-password link from a page, and later reads the victim's orders and keys. Every way an
account is made or joined (guest checkout, checkout signed in, password reset for an account
with no password, a guest order for an address whose account has a password) is driven
through HTTP here.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from apps.licenses.models import License
from apps.licenses.selectors import license_key_reveal
from apps.store.models import Coupon, Order, Payment
from apps.store.services import coupon_upsert
from tests.builders import DECLINED, buy, checkout_form, shop_create

pytestmark = pytest.mark.django_db(transaction=True)

VICTIM = "carol@victim.test"
PASSWORD = "correct horse battery staple"
RESET_LINK = re.compile(r"/account/password/[^/\s\"<>]+/[^/\s\"<>]+/")


def _reset_links(message: mail.EmailMessage) -> set[str]:
    return set(RESET_LINK.findall(str(message.body)))


def _mails_to(address: str) -> list[mail.EmailMessage]:
    return [message for message in mail.outbox if address in message.to]


def _set_password_through(client: Client, link: str) -> None:
    form = client.get(link, follow=True)
    assert form.status_code == 200 and form.context["validlink"] is True
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link,
        {"new_password1": PASSWORD, "new_password2": PASSWORD},
    )
    assert done.status_code == 302


def test_a_stranger_who_checks_out_with_someone_elses_email_never_reaches_their_key() -> None:
    shop = shop_create()
    attacker = Client()

    # The attacker buys as a guest with the victim's address: no page offers a password.
    placed = buy(attacker, shop.personal, email=VICTIM)
    confirmation = attacker.get(placed["Location"])
    assert confirmation.status_code == 200
    assert not RESET_LINK.search(confirmation.content.decode())
    assert "Set a password" not in confirmation.content.decode()
    # The only link goes to the victim's mailbox, in the receipt.
    assert [message.to for message in mail.outbox] == [[VICTIM]]
    assert len(_reset_links(mail.outbox[0])) == 1
    # "Forgot your password?" also writes to the victim only.
    attacker.post("/account/password-reset/", {"email": VICTIM})
    assert [message.to for message in mail.outbox] == [[VICTIM], [VICTIM]]
    assert attacker.post("/account/login/", {"username": VICTIM, "password": ""}).status_code == 200
    assert attacker.get("/account/").status_code == 302  # not signed in

    # The victim buys later as a guest, from her own browser.
    victim = Client()
    buy(victim, shop.business, email=VICTIM)
    her_order = Order.objects.latest("pk")
    her_line = her_order.lines.get()
    her_key = license_key_reveal(license=License.objects.get(order_line_id=her_line.pk))

    # The attacker's session sees neither her order nor her key anywhere.
    for path in ("/account/", f"/orders/{her_order.number}/", "/account/downloads/"):
        page = attacker.get(path)
        assert page.status_code in (302, 404), path
        assert her_key not in page.content.decode()
    assert her_key not in attacker.get(placed["Location"]).content.decode()

    # The victim claims her account from her mailbox and finds both orders.
    (link,) = _reset_links(_mails_to(VICTIM)[-1])
    reader = Client()
    _set_password_through(reader, link)
    assert reader.login(username=VICTIM, password=PASSWORD)
    overview = reader.get("/account/").content.decode()
    assert her_order.number in overview
    assert User.objects.filter(email__iexact=VICTIM).count() == 1


def test_no_account_is_made_before_the_order_is_paid() -> None:
    shop = shop_create()
    client = Client()
    client.post("/cart/add/", {"tier": shop.personal.pk})

    declined = client.post("/checkout/", checkout_form(client, email=VICTIM, card_number=DECLINED))

    assert declined.status_code == 402
    assert not User.objects.exists()
    order = Order.objects.get()
    assert order.customer is None and order.status == Order.Status.FAILED
    assert not mail.outbox


def test_a_declined_card_gives_a_limited_coupon_back_at_once() -> None:
    shop = shop_create()
    coupon_upsert(code="LAST1", kind="percent", value=50, usage_limit=1, all_products=True)
    first = Client()
    first.post("/cart/add/", {"tier": shop.personal.pk})
    first.post("/cart/coupon/", {"code": "LAST1"})
    form = checkout_form(first, card_number=DECLINED)

    assert first.post("/checkout/", form).status_code == 402
    assert Coupon.objects.get().times_used == 0

    # Someone else takes the last use while the first buyer looks for another card.
    second = buy(Client(), shop.personal, coupon="LAST1", email="grace@example.com")
    assert second.status_code == 303
    assert Coupon.objects.get().times_used == 1

    retried = first.post("/checkout/", {**form, "card_number": "4242424242424242"})

    assert retried.status_code == 400
    assert "This coupon has been used up." in retried.content.decode()
    order = Order.objects.get(email="ada@example.com")
    assert order.status == Order.Status.FAILED
    assert not order.payments.filter(status=Payment.Status.SUCCEEDED).exists()
    assert Coupon.objects.get().times_used == 1


def test_a_declined_form_paid_with_another_card_claims_its_coupon_again() -> None:
    shop = shop_create()
    coupon_upsert(code="TEN", kind="percent", value=10, usage_limit=5, all_products=True)
    client = Client()
    client.post("/cart/add/", {"tier": shop.personal.pk})
    client.post("/cart/coupon/", {"code": "TEN"})
    form = checkout_form(client, card_number=DECLINED)
    client.post("/checkout/", form)

    paid = client.post("/checkout/", {**form, "card_number": "4242424242424242"})

    assert paid.status_code == 303
    order = Order.objects.get()
    assert (order.status, order.discount) == (Order.Status.PAID, 490)
    assert Coupon.objects.get().times_used == 1


def test_a_guest_order_for_an_address_with_a_password_joins_that_account_only() -> None:
    shop = shop_create()
    owner = User.objects.create_user("carol", email=VICTIM, password=PASSWORD)
    stranger = Client()

    placed = buy(stranger, shop.personal, email=VICTIM)

    order = Order.objects.get()
    assert order.customer == owner
    assert not RESET_LINK.search(stranger.get(placed["Location"]).content.decode())
    assert [message.to for message in mail.outbox] == [[VICTIM]]  # the receipt
    assert not _reset_links(mail.outbox[0])
    owner_client = Client()
    owner_client.force_login(owner)
    assert order.number in owner_client.get("/account/").content.decode()
    assert stranger.get("/account/").status_code == 302


def test_a_signed_in_buyer_orders_for_their_own_account_whatever_the_form_says() -> None:
    shop = shop_create()
    buyer = User.objects.create_user("grace", email="grace@example.com", password=PASSWORD)
    client = Client()
    client.force_login(buyer)

    buy(client, shop.personal, email=VICTIM)

    order = Order.objects.get()
    assert (order.customer, order.email) == (buyer, "grace@example.com")
    assert not User.objects.filter(email__iexact=VICTIM).exists()
    assert not _mails_to(VICTIM)
