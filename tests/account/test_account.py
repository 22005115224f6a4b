"""The customer account: sign-in, password reset, orders, licenses, sites, renewals, upgrades."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.licenses.models import Activation, License, Product
from apps.licenses.selectors import license_key_reveal
from apps.licenses.services import (
    license_activate,
    license_deactivate,
    license_revoke,
)
from apps.store.models import PriceTier
from apps.store.services import (
    LineRequest,
    customer_for_email,
    order_create,
    order_mark_paid,
    tier_upsert,
)
from tests.builders import customer_make, license_make, product_make

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@dataclass
class Catalogue:
    product: Product
    personal: PriceTier  # 1 site, a year
    business: PriceTier  # 5 sites, a year
    agency: PriceTier  # unlimited sites, a year
    lifetime: PriceTier  # unlimited sites, lifetime


@pytest.fixture
def catalogue() -> Catalogue:
    product = product_make()
    year, lifetime = PriceTier.Term.YEAR, PriceTier.Term.LIFETIME
    return Catalogue(
        product=product,
        personal=tier_upsert(
            product=product, name="Personal", sites_allowed=1, term=year, amount=4900
        ),
        business=tier_upsert(
            product=product, name="Business", sites_allowed=5, term=year, amount=9900, position=1
        ),
        agency=tier_upsert(
            product=product, name="Agency", sites_allowed=0, term=year, amount=19900, position=2
        ),
        lifetime=tier_upsert(
            product=product,
            name="Lifetime",
            sites_allowed=0,
            term=lifetime,
            amount=49900,
            position=3,
        ),
    )


@pytest.fixture
def customer() -> User:
    return customer_make(password=PASSWORD)


@pytest.fixture
def stranger() -> User:
    return customer_make("other@example.com", PASSWORD)


def _license(
    owner: User, tier: PriceTier, *, expires_in: timedelta | None = timedelta(days=200)
) -> License:
    days = expires_in / timedelta(days=1) if expires_in is not None else None
    return license_make(
        tier.product,
        email=owner.email,
        sites=tier.sites_allowed,
        days=days,
        customer=owner,
        tier=tier,
    ).license


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _cart(client) -> str:
    """The cart page's lines table, as text."""
    response = client.get("/cart/")
    assert response.status_code == 200
    return response.content.decode()


def _activations(license: License) -> list[tuple[str, bool]]:
    return sorted(license.activations.values_list("site", "is_active"))


# Signing in and out


def test_a_customer_signs_in_with_the_order_email_in_any_case_and_signs_out(client, customer):
    # When
    response = client.post(
        "/account/login/", {"username": "  Buyer@Example.COM ", "password": PASSWORD}
    )

    # Then
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert client.get("/account/").status_code == 200

    # When
    response = client.post("/account/logout/")

    # Then
    assert response.status_code == 302
    assert client.get("/account/")["Location"].startswith("/account/login/?next=/account/")


def test_a_wrong_password_is_refused_without_signing_in(client, customer):
    # When
    response = client.post(
        "/account/login/", {"username": "buyer@example.com", "password": "not it"}
    )

    # Then
    assert response.status_code == 200
    assert "That e-mail and password do not match an account." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_every_account_page_needs_a_signed_in_customer(client, catalogue, customer):
    license = _license(customer, catalogue.personal)

    for path in ("/account/", f"/account/licenses/{license.pk}/", "/account/downloads/"):
        response = client.get(path)

        assert response.status_code == 302
        assert response["Location"] == f"/account/login/?next={path}"
    response = client.post(f"/account/licenses/{license.pk}/key/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


# Password reset


def test_password_reset_mails_a_link_that_sets_a_password_for_an_account_made_at_checkout(
    client,
):
    # Given: checkout made the account from the e-mail, without a password
    user, created = customer_for_email(email="guest@example.com")
    assert created and not user.has_usable_password()

    # When
    response = client.post("/account/password-reset/", {"email": "Guest@Example.com"})

    # Then
    assert response.status_code == 302
    assert response["Location"] == "/account/password-reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["guest@example.com"]
    assert "Depot" in message.subject
    link = re.search(r"https?://testserver(/account/password/\S+/)", message.body)
    assert link is not None

    # When: the customer opens the link and chooses a password
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    assert form_page.context["validlink"] is True
    set_url = form_page.redirect_chain[-1][0]
    new = "a-brand-new-passphrase-42"
    response = client.post(set_url, {"new_password1": new, "new_password2": new})

    # Then: it is set, they are signed in, and the link works only once
    assert response.status_code == 302
    assert response["Location"] == "/account/password/done/"
    user.refresh_from_db()
    assert user.check_password(new)
    assert client.get("/account/").status_code == 200
    client.post("/account/logout/")
    assert client.get(link.group(1), follow=True).context["validlink"] is False
    signed_in = client.post("/account/login/", {"username": "guest@example.com", "password": new})
    assert signed_in["Location"] == "/account/"


def test_password_reset_for_an_unknown_email_looks_the_same_and_sends_nothing(client, customer):
    # When
    response = client.post("/account/password-reset/", {"email": "nobody@example.com"})

    # Then
    assert response.status_code == 302
    assert response["Location"] == "/account/password-reset/sent/"
    assert mail.outbox == []


def test_a_tampered_reset_link_is_refused_and_the_password_is_unchanged(client, customer):
    # When
    response = client.get("/account/password/MQ/abc-0123456789abcdef/", follow=True)

    # Then
    assert response.status_code == 200
    assert response.context["validlink"] is False
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)


# The overview


def test_the_overview_lists_the_customers_orders_and_licenses(
    client, catalogue, customer, stranger
):
    # Given
    paid = order_create(
        email=customer.email,
        customer=customer,
        lines=[LineRequest(tier=catalogue.business), LineRequest(tier=catalogue.personal)],
    )
    order_mark_paid(order_id=paid.pk, gateway="test", reference="ch_1")
    pending = order_create(
        email=customer.email, customer=customer, lines=[LineRequest(tier=catalogue.agency)]
    )
    theirs = order_create(
        email=stranger.email, customer=stranger, lines=[LineRequest(tier=catalogue.agency)]
    )
    yearly = _license(customer, catalogue.business)
    license_activate(license_id=yearly.pk, site_url="https://one.example.com")
    license_activate(license_id=yearly.pk, site_url="https://two.example.com")
    license_activate(license_id=yearly.pk, site_url="https://staging.one.example.com")
    lifetime = _license(customer, catalogue.lifetime, expires_in=None)
    expired = _license(customer, catalogue.personal, expires_in=timedelta(days=-3))
    revoked = _license(customer, catalogue.personal)
    license_revoke(license_id=revoked.pk)
    other = _license(stranger, catalogue.personal)
    client.force_login(customer)

    # When
    response = client.get("/account/")

    # Then
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="/orders/{paid.number}/"' in html
    assert f'href="/orders/{pending.number}/"' in html
    assert theirs.number not in html
    assert "$148.00" in html  # 99 + 49
    assert '<span class="badge paid order-status">Paid</span>' in html
    assert '<span class="badge pending order-status">Pending payment</span>' in html
    rows = dict(re.findall(r'<tr id="license-(\d+)">(.*?)</tr>', html, re.S))
    assert set(rows) == {str(lic.pk) for lic in (yearly, lifetime, expired, revoked)}
    assert str(other.pk) not in rows
    assert "Business" in rows[str(yearly.pk)]
    assert f"…{yearly.key_hint}" in rows[str(yearly.pk)]
    assert ">active<" in rows[str(yearly.pk)]
    assert "2 / 5" in rows[str(yearly.pk)]  # the staging copy takes no slot
    assert 'class="license-expiry">Lifetime</td>' in rows[str(lifetime.pk)]
    assert "0 / unlimited" in rows[str(lifetime.pk)]
    assert ">expired<" in rows[str(expired.pk)]
    assert ">revoked<" in rows[str(revoked.pk)]
    assert f'href="/account/licenses/{yearly.pk}/"' in rows[str(yearly.pk)]
    assert 'href="/account/downloads/"' in html
    # The key itself is never on the overview.
    assert license_key_reveal(license=yearly) not in html


def test_the_overview_reads_the_same_number_of_queries_for_many_licenses(
    client, catalogue, customer
):
    # Given
    client.force_login(customer)
    first = _license(customer, catalogue.business)
    license_activate(license_id=first.pk, site_url="https://one.example.com")
    order_create(
        email=customer.email, customer=customer, lines=[LineRequest(tier=catalogue.agency)]
    )
    with CaptureQueriesContext(connection) as one:
        client.get("/account/")
    for _ in range(4):
        more = _license(customer, catalogue.personal)
        license_activate(license_id=more.pk, site_url="https://more.example.com")
        order_create(
            email=customer.email, customer=customer, lines=[LineRequest(tier=catalogue.personal)]
        )

    # When
    with CaptureQueriesContext(connection) as five:
        response = client.get("/account/")

    # Then
    assert response.status_code == 200
    assert len(five) == len(one)


# The license page and the key


def test_the_license_page_hides_the_key_until_shown_by_post(client, catalogue, customer):
    # Given
    license, key = license_make(
        catalogue.product,
        email=customer.email,
        sites=5,
        days=100,
        customer=customer,
        tier=catalogue.business,
    )
    client.force_login(customer)

    # When
    page = client.get(f"/account/licenses/{license.pk}/")

    # Then
    assert page.status_code == 200
    assert key not in page.content.decode()
    assert f"…{license.key_hint}" in page.content.decode()
    assert client.get(f"/account/licenses/{license.pk}/key/").status_code == 405

    # When
    shown = client.post(f"/account/licenses/{license.pk}/key/")

    # Then
    assert shown.status_code == 200
    assert f'<code class="key" id="license-key">{key}</code>' in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]


def test_the_license_page_shows_product_tier_status_expiry_and_sites(client, catalogue, customer):
    # Given
    license = _license(customer, catalogue.business)
    license_activate(license_id=license.pk, site_url="https://shop.example.com/")
    license_activate(license_id=license.pk, site_url="https://staging.shop.example.com/")
    license_activate(license_id=license.pk, site_url="https://old.example.com/")
    license_deactivate(license_id=license.pk, site_url="https://old.example.com/")
    client.force_login(customer)

    # When
    response = client.get(f"/account/licenses/{license.pk}/")

    # Then
    html = response.content.decode()
    assert "<h1>Formwell license</h1>" in html
    assert "Business · 5 sites · 1 year" in html
    assert '<span class="badge active" id="license-status">active</span>' in html
    assert license.expires_at is not None
    assert f"{license.expires_at:%-d %B %Y}" in html
    assert "1 of 5 used" in html
    sites = re.findall(r'<tr class="site">(.*?)</tr>', html, re.S)
    assert len(sites) == 2
    assert "https://shop.example.com/" in sites[0] and "staging" not in sites[0]
    assert "staging, uses no slot" in sites[1]
    assert "old.example.com" not in html
    assert 'href="/account/downloads/"' in html


def test_someone_elses_license_is_404_for_every_page_and_action_and_nothing_changes(
    client, catalogue, customer, stranger
):
    # Given
    theirs = _license(stranger, catalogue.business)
    license_activate(license_id=theirs.pk, site_url="https://theirs.example.com")
    client.force_login(customer)
    base = f"/account/licenses/{theirs.pk}"

    # When / Then
    assert client.get(f"{base}/").status_code == 404
    assert client.post(f"{base}/key/").status_code == 404
    assert client.post(f"{base}/deactivate/", {"site": "theirs.example.com"}).status_code == 404
    assert client.post(f"{base}/renew/").status_code == 404
    assert client.post(f"{base}/upgrade/", {"tier": catalogue.agency.pk}).status_code == 404
    assert client.get("/account/licenses/999999999/").status_code == 404
    assert _activations(theirs) == [("theirs.example.com", True)]
    assert "Your cart is empty" in _cart(client)


# Sites


def test_deactivating_a_site_frees_its_slot(client, catalogue, customer):
    # Given
    license = _license(customer, catalogue.business)
    license_activate(license_id=license.pk, site_url="https://www.Shop.example.com/")
    license_activate(license_id=license.pk, site_url="https://blog.example.com/")
    client.force_login(customer)

    # When
    response = client.post(
        f"/account/licenses/{license.pk}/deactivate/", {"site": "shop.example.com"}, follow=True
    )

    # Then
    assert response.redirect_chain == [(f"/account/licenses/{license.pk}/", 302)]
    assert any("shop.example.com was deactivated" in m for m in _messages(response))
    assert _activations(license) == [("blog.example.com", True), ("shop.example.com", False)]
    deactivated = Activation.objects.get(license=license, site="shop.example.com")
    assert deactivated.deactivated_at is not None
    assert "1 of 5 used" in response.content.decode()


@pytest.mark.parametrize(
    "site", ["other.example.com", "", "javascript:alert(1)", "x" * 600, "theirs.example.com"]
)
def test_deactivating_a_site_not_on_the_license_says_so_and_changes_nothing(
    client, catalogue, customer, stranger, site
):
    # Given
    license = _license(customer, catalogue.business)
    license_activate(license_id=license.pk, site_url="https://shop.example.com/")
    theirs = _license(stranger, catalogue.business)
    license_activate(license_id=theirs.pk, site_url="https://theirs.example.com/")
    client.force_login(customer)

    # When
    response = client.post(
        f"/account/licenses/{license.pk}/deactivate/", {"site": site}, follow=True
    )

    # Then
    assert response.status_code == 200
    assert "not active on this license" in " ".join(_messages(response))
    assert _activations(license) == [("shop.example.com", True)]
    assert _activations(theirs) == [("theirs.example.com", True)]


# Renewals


def test_renew_puts_a_renewal_line_in_the_cart_priced_with_the_discount(
    client, catalogue, customer, settings
):
    # Given
    settings.DEPOT_RENEWAL_DISCOUNT_PERCENT = 25
    license = _license(customer, catalogue.business, expires_in=timedelta(days=20))
    client.force_login(customer)

    # When
    page = client.get(f"/account/licenses/{license.pk}/").content.decode()

    # Then: $99.00 less 25 %
    assert '<strong id="renewal-price">$74.25</strong>' in page
    assert "25% off the $99.00 price" in page

    # When
    response = client.post(f"/account/licenses/{license.pk}/renew/")

    # Then
    assert response.status_code == 302
    assert response["Location"] == "/cart/"
    cart = _cart(client)
    assert cart.count("Renewal</span>") == 1
    assert "Formwell" in cart and "Business" in cart
    assert '<th class="num" id="cart-total">$74.25</th>' in cart


def test_renewing_twice_keeps_one_renewal_line(client, catalogue, customer):
    # Given
    license = _license(customer, catalogue.business, expires_in=timedelta(days=-10))
    client.force_login(customer)

    # When: an expired license is renewed (twice, by a double click)
    client.post(f"/account/licenses/{license.pk}/renew/")
    client.post(f"/account/licenses/{license.pk}/renew/")

    # Then
    cart = _cart(client)
    assert cart.count("Renewal</span>") == 1
    assert '<th class="num" id="cart-total">$69.30</th>' in cart  # 30 % off $99.00


@pytest.mark.parametrize("kind", ["lifetime", "revoked"])
def test_a_license_that_cannot_be_renewed_offers_no_renewal_and_adds_nothing(
    client, catalogue, customer, kind
):
    # Given
    if kind == "lifetime":
        license = _license(customer, catalogue.lifetime, expires_in=None)
    else:
        license = _license(customer, catalogue.business)
        license_revoke(license_id=license.pk)
    client.force_login(customer)

    # When
    page = client.get(f"/account/licenses/{license.pk}/").content.decode()
    response = client.post(f"/account/licenses/{license.pk}/renew/", follow=True)

    # Then
    assert "renewal-price" not in page
    assert response.redirect_chain == [(f"/account/licenses/{license.pk}/", 302)]
    expected = "never needs renewing" if kind == "lifetime" else "revoked license cannot be"
    assert expected in " ".join(_messages(response))
    assert "Your cart is empty" in _cart(client)


# Upgrades


def _offers(page: str) -> dict[str, str]:
    """Map each offered tier id to its price as the license page shows them."""
    return dict(
        re.findall(
            r'<li class="upgrade" data-tier="(\d+)">.*?<span class="price">([^<]+)</span>',
            page,
            re.S,
        )
    )


def test_upgrades_offer_only_higher_tiers_with_the_prorated_price(client, catalogue, customer):
    # Given: a Business license ($99/year) with 146.5 days of its year left
    license = _license(customer, catalogue.business, expires_in=timedelta(days=146.5))
    client.force_login(customer)

    # When
    page = client.get(f"/account/licenses/{license.pk}/").content.decode()

    # Then: Agency costs the difference for the time left, (199 - 99) * 146.5/365 = $40.13;
    # Lifetime costs its price less what is left of the year, 499 - 99 * 146.5/365 = $459.27.
    assert _offers(page) == {
        str(catalogue.agency.pk): "$40.13",
        str(catalogue.lifetime.pk): "$459.27",
    }

    # When
    response = client.post(
        f"/account/licenses/{license.pk}/upgrade/", {"tier": catalogue.agency.pk}
    )

    # Then
    assert response["Location"] == "/cart/"
    cart = _cart(client)
    assert "Upgrade</span>" in cart and "Agency" in cart
    assert '<th class="num" id="cart-total">$40.13</th>' in cart


def test_a_lifetime_license_is_offered_only_lifetime_tiers_with_more_sites(
    client, catalogue, customer
):
    # Given
    lifetime_5 = tier_upsert(
        product=catalogue.product,
        name="Lifetime 5",
        sites_allowed=5,
        term=PriceTier.Term.LIFETIME,
        amount=29900,
    )
    license = _license(customer, lifetime_5, expires_in=None)
    client.force_login(customer)

    # When
    page = client.get(f"/account/licenses/{license.pk}/").content.decode()

    # Then
    assert _offers(page) == {str(catalogue.lifetime.pk): "$200.00"}


@pytest.mark.parametrize(
    "tier", ["abc", "", "-1", "0", "99999999999999999999999999", "lower", "other product", "same"]
)
def test_an_invalid_upgrade_tier_says_so_and_adds_nothing(client, catalogue, customer, tier):
    # Given
    license = _license(customer, catalogue.business)
    other = product_make("other")
    values = {
        "lower": catalogue.personal.pk,
        "same": catalogue.business.pk,
        "other product": tier_upsert(
            product=other, name="Huge", sites_allowed=0, term="lifetime", amount=1
        ).pk,
    }
    client.force_login(customer)

    # When
    response = client.post(
        f"/account/licenses/{license.pk}/upgrade/", {"tier": values.get(tier, tier)}, follow=True
    )

    # Then
    assert response.status_code == 200
    assert response.redirect_chain == [(f"/account/licenses/{license.pk}/", 302)]
    assert "not an upgrade of this license" in " ".join(_messages(response))
    assert "Your cart is empty" in _cart(client)


def test_an_expired_license_must_be_renewed_before_an_upgrade(client, catalogue, customer):
    # Given
    license = _license(customer, catalogue.personal, expires_in=timedelta(days=-1))
    client.force_login(customer)

    # When
    page = client.get(f"/account/licenses/{license.pk}/").content.decode()
    response = client.post(
        f"/account/licenses/{license.pk}/upgrade/", {"tier": catalogue.agency.pk}, follow=True
    )

    # Then
    assert _offers(page) == {}
    assert "renewal-price" in page
    assert "Renew this license before upgrading it." in " ".join(_messages(response))
    assert "Your cart is empty" in _cart(client)
