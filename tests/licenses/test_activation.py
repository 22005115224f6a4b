"""Activations: per-site limits that hold under concurrency, staging sites, history, renewals."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from apps.licenses.models import Activation, License
from apps.licenses.services import (
    LicenseRefused,
    license_activate,
    license_activations_reset,
    license_change_tier,
    license_deactivate,
    license_issue,
    license_renew,
    license_revoke,
)
from tests.builders import license_make, product_make


def _license(product, *, limit=1, expires_in_days: int | None = 365) -> License:
    return license_make(product, sites=limit, days=expires_in_days).license


def _active_sites(license: License) -> list[str]:
    return sorted(
        Activation.objects.filter(license=license, is_active=True).values_list("site", flat=True)
    )


@pytest.mark.real_services
def test_fifty_concurrent_activations_on_the_last_free_slot_let_exactly_one_in(
    transactional_db,
):
    # Given a 3-site license already active on 2 sites
    product = product_make()
    license = _license(product, limit=3)
    license_activate(license_id=license.pk, site_url="https://one.example.com")
    license_activate(license_id=license.pk, site_url="https://two.example.com")

    # When 50 distinct sites activate at the same moment, each on its own connection
    start = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def activate(n: int) -> None:
        try:
            start.wait()
            try:
                license_activate(license_id=license.pk, site_url=f"https://site{n}.example.org/")
                outcome = "activated"
            except LicenseRefused as refused:
                outcome = refused.code
            with lock:
                outcomes.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=activate, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly one got the slot and the other 49 were told no activations are left
    assert sorted(set(outcomes)) == ["activated", "no_activations_left"]
    assert outcomes.count("activated") == 1
    assert outcomes.count("no_activations_left") == 49
    assert len(_active_sites(license)) == 3


def test_activating_the_same_site_again_is_idempotent(product):
    license = _license(product, limit=1)

    first = license_activate(license_id=license.pk, site_url="https://www.Example.com/")
    again = license_activate(license_id=license.pk, site_url="http://example.com")

    assert again.pk == first.pk
    assert _active_sites(license) == ["example.com"]


def test_a_full_license_refuses_another_site_and_says_how_to_fix_it(product):
    license = _license(product, limit=1)
    license_activate(license_id=license.pk, site_url="https://shop.example.com")

    with pytest.raises(LicenseRefused) as refused:
        license_activate(license_id=license.pk, site_url="https://blog.example.com")

    assert refused.value.code == "no_activations_left"
    assert "1 of 1" in refused.value.message
    assert _active_sites(license) == ["shop.example.com"]


@pytest.mark.parametrize(
    ("site_url", "environment"),
    [
        ("http://localhost:8080/wp", None),
        ("https://mysite.wpengine.com", None),
        ("https://staging.example.com", None),
        ("https://example.test", None),
        ("https://preview.example.com", "staging"),
    ],
)
def test_staging_sites_are_recorded_but_never_use_an_activation(
    product, site_url, environment, settings
):
    settings.DEPOT_TRUST_CLIENT_ENVIRONMENT = True  # the vendor lets `environment` count
    license = _license(product, limit=1)
    license_activate(license_id=license.pk, site_url="https://example.com")

    staging = license_activate(license_id=license.pk, site_url=site_url, environment=environment)

    assert staging.is_staging
    assert staging.is_active
    assert license.activations.filter(is_active=True, is_staging=False).count() == 1


def test_unlimited_licenses_take_any_number_of_sites(product):
    license = _license(product, limit=0)

    for n in range(25):
        license_activate(license_id=license.pk, site_url=f"https://client{n}.example.com")

    assert len(_active_sites(license)) == 25


def test_deactivating_keeps_the_history_and_frees_the_slot(product):
    license = _license(product, limit=1)
    license_activate(license_id=license.pk, site_url="https://old.example.com")

    assert license_deactivate(license_id=license.pk, site_url="old.example.com") is True
    license_activate(license_id=license.pk, site_url="https://new.example.com")

    old = Activation.objects.get(license=license, site="old.example.com")
    assert old.is_active is False
    assert old.deactivated_at is not None
    assert _active_sites(license) == ["new.example.com"]
    assert license_deactivate(license_id=license.pk, site_url="old.example.com") is False


def test_reset_deactivates_every_site(product):
    license = _license(product, limit=0)
    for n in range(3):
        license_activate(license_id=license.pk, site_url=f"https://s{n}.example.com")

    assert license_activations_reset(license_id=license.pk) == 3
    assert _active_sites(license) == []
    assert Activation.objects.filter(license=license).count() == 3


def test_expired_and_revoked_licenses_refuse_activation(product):
    expired = _license(product, expires_in_days=365)
    License.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    revoked = license_revoke(license_id=_license(product).pk)

    with pytest.raises(LicenseRefused) as expired_refusal:
        license_activate(license_id=expired.pk, site_url="https://example.com")
    with pytest.raises(LicenseRefused) as revoked_refusal:
        license_activate(license_id=revoked.pk, site_url="https://example.com")

    assert expired_refusal.value.code == "expired"
    assert "expired on" in expired_refusal.value.message
    assert revoked_refusal.value.code == "disabled"
    assert not Activation.objects.exists()


def test_renewal_extends_from_the_later_of_now_and_expiry(product):
    current = _license(product, expires_in_days=30)
    lapsed = _license(product, expires_in_days=30)
    License.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now() - timedelta(days=100))
    lifetime = _license(product, expires_in_days=None)
    before = License.objects.get(pk=current.pk).expires_at

    renewed = license_renew(license_id=current.pk, days=365)
    revived = license_renew(license_id=lapsed.pk, days=365)
    kept = license_renew(license_id=lifetime.pk, days=365)

    assert renewed.expires_at == before + timedelta(days=365)
    assert revived.expires_at is not None
    assert abs(revived.expires_at - (timezone.now() + timedelta(days=365))) < timedelta(minutes=1)
    assert kept.expires_at is None


def test_changing_tier_raises_the_limit(product):
    license = _license(product, limit=1)
    license_activate(license_id=license.pk, site_url="https://a.example.com")

    license_change_tier(license_id=license.pk, activation_limit=5, price_id=7, lifetime=True)
    license_activate(license_id=license.pk, site_url="https://b.example.com")

    license.refresh_from_db()
    assert (license.activation_limit, license.price_id, license.expires_at) == (5, 7, None)
    assert _active_sites(license) == ["a.example.com", "b.example.com"]


def test_issuing_for_an_order_line_twice_gives_one_license(product):
    first = license_issue(
        order_line_id=42, product=product, email="a@example.com", activation_limit=1, term_days=365
    )
    second = license_issue(
        order_line_id=42, product=product, email="a@example.com", activation_limit=1, term_days=365
    )

    assert first.pk == second.pk
    assert License.objects.filter(order_line_id=42).count() == 1
