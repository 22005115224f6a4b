"""Renewals and upgrades bought through the account and the checkout, and undone by a refund."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.licenses.models import License
from apps.licenses.services import license_expiry_set
from apps.store.models import Order
from apps.store.services import order_refund
from tests.builders import buy, checkout_form, shop_create

pytestmark = pytest.mark.django_db(transaction=True)


def _customer_with_personal_license() -> tuple[Client, License]:
    shop = shop_create()
    User.objects.create_user("ada", email="ada@example.com", password="s3cret-pass-1")
    client = Client()
    client.login(username="ada", password="s3cret-pass-1")
    assert buy(client, shop.personal).status_code == 303
    return client, License.objects.get()


def test_an_upgrade_is_charged_prorated_and_moves_the_license_to_the_new_tier() -> None:
    client, license = _customer_with_personal_license()
    license_expiry_set(license_id=license.pk, expires_at=timezone.now() + timedelta(days=73))
    business = license.product.tiers.get(name="Business")

    client.post(f"/account/licenses/{license.pk}/upgrade/", {"tier": business.pk})
    response = client.post("/checkout/", checkout_form(client))

    assert response.status_code == 303
    upgrade = Order.objects.filter(lines__kind="upgrade").get()
    line = upgrade.lines.get()
    # ($99 - $49) for the 73 of 365 days left: $10.00, give or take a cent of elapsed time.
    assert line.kind == "upgrade" and 999 <= upgrade.total <= 1000
    license.refresh_from_db()
    assert (license.activation_limit, license.price_id) == (5, business.pk)
    assert License.objects.count() == 1  # the same key, not a new one


def test_refunding_an_upgrade_puts_the_old_tier_back_without_revoking() -> None:
    client, license = _customer_with_personal_license()
    personal_tier = license.price_id
    lifetime = license.product.tiers.get(name="Agency")
    client.post(f"/account/licenses/{license.pk}/upgrade/", {"tier": lifetime.pk})
    client.post("/checkout/", checkout_form(client))
    license.refresh_from_db()
    assert (license.activation_limit, license.expires_at) == (0, None)
    upgrade = Order.objects.filter(lines__kind="upgrade").get()

    order_refund(order_id=upgrade.pk)

    license.refresh_from_db()
    assert license.status == "active"
    assert (license.activation_limit, license.price_id) == (1, personal_tier)
    assert license.expires_at is not None and license.expires_at > timezone.now()


def test_a_renewal_extends_the_expiry_by_a_year_at_the_discounted_price() -> None:
    client, license = _customer_with_personal_license()
    before = license.expires_at
    assert before is not None

    client.post(f"/account/licenses/{license.pk}/renew/")
    response = client.post("/checkout/", checkout_form(client))

    assert response.status_code == 303
    renewal = Order.objects.filter(lines__kind="renewal").get()
    assert renewal.total == 4900 * 70 // 100  # DEPOT_RENEWAL_DISCOUNT_PERCENT = 30
    license.refresh_from_db()
    assert license.expires_at == before + timedelta(days=365)
