"""license_check: EDD's statuses for a key, a product and a site, with a sentence for people."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.licenses.models import License
from apps.licenses.selectors import license_check
from apps.licenses.services import (
    license_activate,
    license_deactivate,
    license_revoke,
    product_upsert,
)
from tests.builders import license_make


@pytest.fixture
def issued(product):
    return license_make(product, email="a@example.com", sites=2, days=30)


def test_a_key_active_on_the_site_is_valid(product, issued):
    license, key = issued
    license_activate(license_id=license.pk, site_url="https://example.com")

    check = license_check(
        key=key.lower().replace("-", " "), product=product, site_url="example.com/"
    )

    assert (check.status, check.entitled, check.state.license_id) == ("valid", True, license.pk)


def test_an_unknown_key_is_invalid(product):
    check = license_check(key="NOT-A-REAL-KEY", product=product, site_url="example.com")

    assert check.status == "invalid"
    assert check.state is None
    assert "not valid" in check.message


def test_an_empty_key_is_invalid_without_a_lookup(product, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert license_check(key="  ", product=product).status == "invalid"


def test_a_key_for_another_product_is_a_mismatch(product, issued):
    other = product_upsert(slug="searchlight", name="Searchlight SEO")

    check = license_check(key=issued[1], product=other, site_url="example.com")

    assert check.status == "item_name_mismatch"
    assert "Formwell" in check.message and "Searchlight SEO" in check.message


def test_never_activated_is_inactive_and_another_site_is_site_inactive(product, issued):
    license, key = issued
    assert license_check(key=key, product=product, site_url="a.example.com").status == "inactive"

    license_activate(license_id=license.pk, site_url="https://b.example.com")
    check = license_check(key=key, product=product, site_url="a.example.com")

    assert check.status == "site_inactive"
    assert not check.entitled


def test_deactivated_site_is_no_longer_valid(product, issued):
    license, key = issued
    license_activate(license_id=license.pk, site_url="https://a.example.com")
    license_activate(license_id=license.pk, site_url="https://b.example.com")
    license_deactivate(license_id=license.pk, site_url="a.example.com")

    assert license_check(key=key, product=product, site_url="a.example.com").status == (
        "site_inactive"
    )


def test_expired_and_revoked_keys_say_why(product, issued):
    license, key = issued
    license_activate(license_id=license.pk, site_url="https://a.example.com")
    expiry = timezone.now() - timedelta(days=2)
    License.objects.filter(pk=license.pk).update(expires_at=expiry)

    expired = license_check(key=key, product=product, site_url="a.example.com")
    license_revoke(license_id=license.pk)
    revoked = license_check(key=key, product=product, site_url="a.example.com")

    assert expired.status == "expired"
    assert f"{expiry:%B %-d, %Y}" in expired.message
    assert revoked.status == "disabled"
    assert "revoked" in revoked.message
