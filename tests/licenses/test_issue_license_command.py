"""`manage.py issue_license`: a license by hand, its key printed once on stdout."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.licenses.models import License
from apps.licenses.selectors import license_by_key, license_check
from apps.licenses.services import product_upsert

pytestmark = pytest.mark.django_db


def _issue(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("issue_license", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_issue_license_prints_a_key_that_checks_valid_for_the_product(product):
    # Given
    before = timezone.now()

    # When
    out, err = _issue(
        "--product", "formwell", "--sites", "5", "--days", "30", "--email", "dana@example.com"
    )

    # Then
    key = out.strip()
    license = license_by_key(key=key)
    assert license is not None
    assert license.product == product
    assert license.email == "dana@example.com"
    assert license.activation_limit == 5
    assert license.expires_at is not None
    assert before + timedelta(days=30) <= license.expires_at <= timezone.now() + timedelta(days=30)
    assert license_check(key=key, product=product).status == "valid"
    assert "5 site(s)" in err


def test_issue_license_for_life_on_unlimited_sites(product):
    # When
    out, err = _issue(
        "--product", "formwell", "--sites", "0", "--lifetime", "--email", "agency@example.com"
    )

    # Then
    license = license_by_key(key=out.strip())
    assert license is not None
    assert license.expires_at is None
    assert license.activation_limit == 0
    assert "unlimited sites, lifetime" in err


@pytest.mark.parametrize(
    ("term", "message"),
    [
        (["--days", "30", "--lifetime"], "not allowed with argument"),
        ([], "one of the arguments --days --lifetime is required"),
        (["--days", "0"], "from 1 to"),
    ],
)
def test_issue_license_needs_exactly_one_valid_term(product, term, message):
    # When
    with pytest.raises(CommandError, match=message):
        _issue("--product", "formwell", "--sites", "1", "--email", "dana@example.com", *term)

    # Then
    assert not License.objects.exists()


def test_issue_license_refuses_a_negative_site_count(product):
    # When
    with pytest.raises(CommandError, match="from 0 to"):
        _issue("--product", "formwell", "--sites", "-1", "--days", "30", "--email", "d@example.com")

    # Then
    assert not License.objects.exists()


def test_issue_license_for_an_unknown_product_names_the_known_ones(product):
    # Given
    product_upsert(slug="searchlight-seo", name="Searchlight SEO")

    # When
    with pytest.raises(CommandError) as caught:
        _issue("--product", "formwel", "--sites", "1", "--days", "30", "--email", "d@example.com")

    # Then
    assert "'formwel'" in str(caught.value)
    assert "Known products: formwell, searchlight-seo." in str(caught.value)
    assert not License.objects.exists()


def test_issue_license_refuses_an_invalid_email(product):
    # When
    with pytest.raises(CommandError, match="not a valid e-mail address"):
        _issue("--product", "formwell", "--sites", "1", "--days", "30", "--email", "dana@")

    # Then
    assert not License.objects.exists()
