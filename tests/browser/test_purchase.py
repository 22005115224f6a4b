"""A customer buys a plugin in headless Chromium; an admin refunds the order.

The live server serves the storefront; on the real services a Celery worker on RabbitMQ
issues the license while the confirmation page refreshes itself, on the embedded default
the task runs in-process. Screenshots: test-artifacts/browser/<test>/NN-<step>.png.
"""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User

from apps.licenses.models import License, Product
from apps.licenses.selectors import license_key_reveal
from apps.store.models import Coupon, Order, PriceTier
from apps.store.services import tier_upsert
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.services import release_publish_zip
from tests.browser.conftest import Mailbox, Shots
from tests.builders import product_make

# Without playwright the conftest skips these tests (under CI=true: fails them) and says why.
with contextlib.suppress(ImportError):
    from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

CARD = "4242 4242 4242 4242"
PASSWORD = "correct horse battery staple"
MINUS = "\N{MINUS SIGN}"  # how the store writes a discount
# The worker may take a moment to start on the task; the page refreshes every 2 s meanwhile.
KEY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Plugin:
    product: Product
    tier: PriceTier
    zip_content: bytes


def plugin_on_sale() -> Plugin:
    """Given: Formwell on sale in two tiers, release 2.4.1 published, coupon LAUNCH20."""
    product = product_make(description="Forms that work.")
    tier_upsert(product=product, name="Personal", sites_allowed=1, term="year", amount=4900)
    business = tier_upsert(
        product=product, name="Business", sites_allowed=5, term="year", amount=9900, position=1
    )
    spec = PluginSpec(
        slug="formwell",
        name="Formwell",
        version="2.4.1",
        description="Forms that work.",
        changelog="= 2.4.1 =\n* Faster forms.",
    )
    zip_content = plugin_zip_build(spec)
    release_publish_zip(product=product, zip_content=zip_content)
    Coupon.objects.create(code="LAUNCH20", kind="percent", value=20)
    return Plugin(product=product, tier=business, zip_content=zip_content)


def buy(page: Page, shots: Shots, site: str, plugin: Plugin) -> str:
    """Buy `plugin`'s tier as a new customer with LAUNCH20; return the key the page shows."""
    page.goto(f"{site}/")
    expect(page.get_by_role("heading", name="Plugins")).to_be_visible()
    shots.take(page, "catalogue")

    page.locator("#product-formwell").get_by_role("link", name="Formwell").click()
    expect(page.get_by_role("heading", name="Formwell", exact=True)).to_be_visible()
    expect(page.locator("#changelog")).to_contain_text("Faster forms.")
    shots.take(page, "plugin-page")

    page.locator(f"#tier-{plugin.tier.pk}").get_by_role("button", name="Add to cart").click()
    expect(page.locator(".messages")).to_contain_text("Formwell (Business) is in your cart.")
    expect(page.locator("#cart-total")).to_have_text("$99.00")
    shots.take(page, "cart")

    page.locator("#id_code").fill("launch20")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".messages")).to_contain_text("Coupon LAUNCH20 applied.")
    expect(page.locator("#cart-discount")).to_contain_text(f"{MINUS}$19.80")
    expect(page.locator("#cart-total")).to_have_text("$79.20")
    shots.take(page, "coupon-applied")

    page.locator("#to-checkout").click()
    page.locator("#id_email").fill("ada@example.com")
    page.locator("#id_name").fill("Ada Lovelace")
    page.locator("#id_country").select_option("GB")
    page.locator("#id_card_number").fill(CARD)
    page.locator("#id_card_expiry").fill("12/30")
    page.locator("#id_card_cvc").fill("123")
    expect(page.locator("#pay")).to_have_text("Pay $79.20")
    shots.take(page, "checkout")

    page.locator("#pay").click()
    key = page.locator("code.license-key")
    expect(key).to_be_visible(timeout=KEY_TIMEOUT_MS)
    expect(page.locator("#order-status")).to_contain_text("Your payment was received.")
    expect(page.locator("#account-hint")).to_contain_text("ada@example.com")
    shots.take(page, "confirmation")
    return key.inner_text().strip()


def open_account(page: Page, shots: Shots, mailbox: Mailbox, email: str) -> None:
    """Set the new account's password from the receipt's link, then open the account.

    No page shows that link: only whoever reads the mailbox may claim the account.
    """
    receipt = mailbox.bodies_to(email)[0]
    link = re.search(r"http\S+/account/password/\S+/", receipt)
    assert link, receipt
    page.goto(link.group(0))
    page.locator("#id_new_password1").fill(PASSWORD)
    page.locator("#id_new_password2").fill(PASSWORD)
    shots.take(page, "set-password")
    page.get_by_role("button", name="Set the password").click()
    page.locator("#nav-account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def test_a_new_customer_buys_with_a_coupon_and_downloads_the_plugin(
    site: str, new_page: Callable[[], Page], shots: Shots, mailbox: Mailbox
) -> None:
    plugin = plugin_on_sale()
    page = new_page()

    shown_key = buy(page, shots, site, plugin)

    order = Order.objects.get()
    assert (order.status, order.discount, order.total) == ("paid", 1980, 7920)
    license = License.objects.get()
    assert (license.status, license.email) == (License.Status.ACTIVE, "ada@example.com")
    assert shown_key == license_key_reveal(license=license)
    expect(page.locator("#order-lines tfoot")).to_contain_text("Discount (LAUNCH20)")
    expect(page.locator("#order-lines tfoot")).to_contain_text(f"{MINUS}$19.80")

    open_account(page, shots, mailbox, "ada@example.com")
    row = page.locator(f"#license-{license.pk}")
    expect(row).to_contain_text("Formwell")
    expect(row).to_contain_text(f"…{license.key_hint}")
    expect(row.locator(".license-status")).to_have_text("active")
    expect(page.locator(f"#order-{order.number} .order-total")).to_have_text("$79.20")
    shots.take(page, "account")

    page.goto(f"{site}/account/downloads/")
    link = page.get_by_role("link", name="Download formwell-2.4.1.zip")
    expect(link).to_be_visible()
    shots.take(page, "downloads")
    with page.expect_download() as info:
        link.click()
    download = info.value
    content = download.path().read_bytes()

    assert download.suggested_filename == "formwell-2.4.1.zip"
    assert content == plugin.zip_content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.namelist() == ["formwell/formwell.php", "formwell/readme.txt"]
        php = archive.read("formwell/formwell.php").decode()
    assert re.search(r"^ \* Version:\s+2\.4\.1$", php, re.MULTILINE)


def test_an_admin_refunds_the_order_and_the_license_is_revoked(
    site: str, new_page: Callable[[], Page], shots: Shots, mailbox: Mailbox
) -> None:
    plugin = plugin_on_sale()
    customer = new_page()
    buy(customer, shots, site, plugin)
    order = Order.objects.get()
    license = License.objects.get()
    User.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    admin = new_page()

    admin.goto(f"{site}/admin/")
    admin.locator("#id_username").fill("boss")
    admin.locator("#id_password").fill(PASSWORD)
    shots.take(admin, "admin-sign-in")
    admin.get_by_role("button", name="Log in").click()
    admin.locator(".app-store").get_by_role("link", name="Orders", exact=True).click()
    row = admin.locator("#result_list tbody tr", has_text=order.number)
    expect(row).to_contain_text("Paid")
    row.locator("input.action-select").check()
    admin.locator("select[name=action]").select_option(label="Refund selected orders")
    shots.take(admin, "admin-orders")
    admin.get_by_role("button", name="Go").click()
    expect(admin.locator(".messagelist .success")).to_have_text(
        f"Order {order.number} refunded; its licenses are revoked."
    )
    expect(row).to_contain_text("Refunded")
    shots.take(admin, "admin-refunded")

    order.refresh_from_db()
    license.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert license.status == License.Status.REVOKED
    admin.goto(f"{site}/admin/licenses/license/")
    license_row = admin.locator("#result_list tbody tr", has_text=license.key_hint)
    expect(license_row.locator(".field-status")).to_have_text("Revoked")
    shots.take(admin, "admin-license-revoked")
    customer.reload()
    expect(customer.locator("#order-status")).to_contain_text("its licenses are revoked")
    shots.take(customer, "customer-order-refunded")
    open_account(customer, shots, mailbox, "ada@example.com")
    expect(customer.locator(f"#license-{license.pk} .license-status")).to_have_text("revoked")
    expect(customer.locator(f"#order-{order.number} .order-status")).to_have_text("Refunded")
    shots.take(customer, "customer-account-revoked")
