"""A coupon's scope is explicit: every product or those chosen; deleting one never widens it."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.test import Client

from apps.licenses.models import Product
from apps.licenses.services import product_upsert
from apps.store.models import Coupon, Order, PriceTier
from tests.builders import buy, checkout_form, shop_create

pytestmark = pytest.mark.django_db

NOT_APPLICABLE = "This coupon does not apply to anything in your cart."


def _scoped_coupon(code: str, *products: Product) -> Coupon:
    coupon = Coupon.objects.create(code=code, kind="percent", value=50, all_products=False)
    coupon.products.set(products)
    return coupon


def test_a_coupon_whose_only_product_was_deleted_applies_to_nothing(admin_client) -> None:
    # Given: a coupon for a bundle that is then deleted in the admin
    shop = shop_create()
    bundle = product_upsert(slug="bundle", name="Bundle", description="Everything.")
    _scoped_coupon("BUNDLE50", bundle)
    deleted = admin_client.post(f"/admin/licenses/product/{bundle.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302 and not Product.objects.filter(slug="bundle").exists()
    client = Client()
    client.post("/cart/add/", {"tier": shop.personal.pk})

    # When
    response = client.post("/cart/coupon/", {"code": "bundle50"}, follow=True)

    # Then
    assert NOT_APPLICABLE in response.content.decode()
    assert response.context["cart"].discount == 0
    assert response.context["cart"].coupon is None
    assert Coupon.objects.get().times_used == 0


def test_a_coupon_applied_before_its_product_was_deleted_is_refused_at_checkout() -> None:
    # Given: a cart with two plugins and a coupon for one of them, applied while valid
    formwell, seoshine = shop_create(), shop_create("seoshine")
    _scoped_coupon("FORMS50", formwell.product)
    client = Client()
    for tier in (formwell.personal, seoshine.personal):
        client.post("/cart/add/", {"tier": tier.pk})
    applied = client.post("/cart/coupon/", {"code": "FORMS50"}, follow=True)
    assert applied.context["cart"].discount == 2450
    form = checkout_form(client)
    # ...then the vendor withdraws that plugin altogether
    PriceTier.objects.filter(product=formwell.product).delete()
    formwell.product.delete()

    # When
    response = client.post("/checkout/", form)

    # Then: the coupon does not spill over onto the other plugin
    assert response.status_code == 400
    assert NOT_APPLICABLE in response.content.decode()
    assert not Order.objects.exists()
    assert Coupon.objects.get().times_used == 0


def test_a_coupon_for_all_products_discounts_a_product_added_later() -> None:
    # Given
    Coupon.objects.create(code="ALL20", kind="percent", value=20, all_products=True)
    shop = shop_create("added-later")

    # When
    response = buy(Client(), shop.personal, coupon="ALL20")

    # Then
    assert response.status_code == 303
    assert (Order.objects.get().discount, Coupon.objects.get().times_used) == (980, 1)


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({}, "Choose at least one product for this coupon, or tick &#x27;All products&#x27;."),
        (
            {"all_products": "on", "products": "PRODUCT"},
            "Either tick &#x27;All products&#x27; or choose products, not both",
        ),
    ],
)
def test_the_coupon_admin_asks_for_every_product_or_some(admin_client, scope, message) -> None:
    # Given
    product = product_upsert(slug="formwell", name="Formwell", description="Forms.")
    form = {"code": "SPRING", "kind": "percent", "value": "10", "is_active": "on"}
    form.update({k: str(product.pk) if v == "PRODUCT" else v for k, v in scope.items()})

    # When
    response = admin_client.post("/admin/store/coupon/add/", form)

    # Then
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Coupon.objects.exists()


def test_the_coupon_admin_saves_a_coupon_for_chosen_products(admin_client) -> None:
    # Given
    product = product_upsert(slug="formwell", name="Formwell", description="Forms.")

    # When
    response = admin_client.post(
        "/admin/store/coupon/add/",
        {"code": "forms", "kind": "fixed", "value": "500", "products": [product.pk]},
    )

    # Then
    assert response.status_code == 302
    coupon = Coupon.objects.get()
    assert (coupon.code, coupon.all_products) == ("FORMS", False)
    assert list(coupon.products.all()) == [product]


def test_the_migration_keeps_each_existing_coupons_scope() -> None:
    # Given: coupons as they were before the flag, which the new column starts as True
    product = product_upsert(slug="formwell", name="Formwell", description="Forms.")
    everything = Coupon.objects.create(code="ALL", kind="percent", value=10)
    scoped = _scoped_coupon("FORMS", product)
    Coupon.objects.update(all_products=True)
    migration = importlib.import_module("apps.store.migrations.0003_coupon_all_products")

    # When
    migration.coupons_keep_their_scope(apps, None)

    # Then
    everything.refresh_from_db()
    scoped.refresh_from_db()
    assert everything.all_products is True
    assert scoped.all_products is False and list(scoped.products.all()) == [product]
