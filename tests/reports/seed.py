"""The shop the report tests read: sales of every kind, a refund, licenses at every stage.

Purchases, the renewal, the upgrade and the refund go through the account, the cart, the
checkout and the services, as a customer and the admin make them. Two things no service
writes are set directly: the day an order was paid (to spread sales over the range) and the
install statistics' daily rows (the beat task's roll-up writes them from Redis).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.licenses.models import License, Product
from apps.licenses.services import license_expiry_set
from apps.store.models import Order
from apps.store.services import order_refund
from apps.updates.models import InstallDay, InstallVersionDay
from tests.builders import buy, checkout_form, license_make, shop_create

PASSWORD = "s3cret-pass-1"


@dataclass(frozen=True)
class Seeded:
    formwell: Product
    searchlight: Product


def _paid_days_ago(order: Order, days: int) -> None:
    Order.objects.filter(pk=order.pk).update(paid_at=timezone.now() - timedelta(days=days))


def reports_seed() -> Seeded:
    """Build the shop; see the module docstring."""
    formwell = shop_create("formwell", name="Formwell")
    searchlight = shop_create("searchlight", name="Searchlight SEO")
    User.objects.create_user("ada", email="ada@example.com", password=PASSWORD)
    ada = Client()
    ada.login(username="ada", password=PASSWORD)

    # New: Ada's Formwell Personal ($49) five days ago.
    assert buy(ada, formwell.personal).status_code == 303
    first = Order.objects.get()
    _paid_days_ago(first, 5)
    license = License.objects.get()

    # Renewal: the license expired ten days ago, Ada renews it at the discount (today).
    license_expiry_set(license_id=license.pk, expires_at=timezone.now() - timedelta(days=10))
    ada.post(f"/account/licenses/{license.pk}/renew/")
    assert ada.post("/checkout/", checkout_form(ada)).status_code == 303

    # Upgrade: to Business, prorated (today).
    ada.post(f"/account/licenses/{license.pk}/upgrade/", {"tier": formwell.business.pk})
    assert ada.post("/checkout/", checkout_form(ada)).status_code == 303

    # New, then refunded: a guest's Searchlight Business ($99) paid two days ago.
    guest = Client()
    assert buy(guest, searchlight.business, email="bo@example.com").status_code == 303
    refunded = Order.objects.get(email="bo@example.com")
    _paid_days_ago(refunded, 2)
    order_refund(order_id=refunded.pk)

    # New: a guest's Searchlight lifetime ($299) yesterday.
    assert buy(Client(), searchlight.lifetime, email="cy@example.com").status_code == 303
    _paid_days_ago(Order.objects.get(email="cy@example.com"), 1)

    # The pipeline and a lapsed license (no orders: issued by hand, as an import would).
    for days in (10, 45, 80):
        license_make(formwell.product, email=f"due{days}@example.com", days=days)
    license_make(formwell.product, email="lapsed@example.com", days=-20)

    # Install statistics of the last three days, and Formwell's versions yesterday.
    today = timezone.now().date()
    for back, sites in ((2, 40), (1, 42), (0, 45)):
        day = today - timedelta(days=back)
        InstallDay.objects.create(product=formwell.product, day=day, sites=sites, checks=sites * 3)
        InstallDay.objects.create(
            product=searchlight.product, day=day, sites=sites // 2, checks=sites
        )
    yesterday = today - timedelta(days=1)
    for dimension, value, sites in (
        ("plugin", "2.4.1", 30),
        ("plugin", "2.3.0", 12),
        ("wp", "6.7.1", 35),
        ("wp", "6.5.5", 7),
        ("php", "8.2", 25),
        ("php", "7.4", 17),
        ("locale", "en_US", 42),
    ):
        InstallVersionDay.objects.create(
            product=formwell.product, day=yesterday, dimension=dimension, value=value, sites=sites
        )
    return Seeded(formwell=formwell.product, searchlight=searchlight.product)


def staff_make(username: str = "boss") -> User:
    """A superuser who signs in to the admin with PASSWORD."""
    return User.objects.create_superuser(
        username, email=f"{username}@example.com", password=PASSWORD
    )
