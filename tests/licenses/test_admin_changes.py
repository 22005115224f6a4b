"""Admin edits of licenses and activations reach the update API's cache at once.

Issue 9 item 7: a license disabled in the admin kept getting packages offered for up to a day,
because the admin saved rows without the services that drop the cached license state.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.licenses.models import Activation, License
from apps.licenses.selectors import license_key_digest, license_key_reveal
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.services import release_publish
from tests.builders import SITE, WP_UA, license_make, product_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(db: None) -> tuple[License, str]:
    """A 3-site key for Formwell (released), active on shop.example.com.

    Formwell activates explicitly: a check from a site the admin removed must not add it back
    (activation on check is tested in tests/updates/test_activate_on_check.py).
    """
    product = product_make(activation="explicit")
    spec = PluginSpec(slug="formwell", name="Formwell", version="2.4.1", description="x")
    release_publish(product=product, version="2.4.1", zip_content=plugin_zip_build(spec))
    return license_make(product, sites=3, activate=SITE)


def _puc(client, key: str, ua: str = WP_UA) -> dict[str, Any]:
    return client.get(
        "/updates/puc/formwell/",
        {"license_key": key, "installed_version": "2.4.0"},
        HTTP_USER_AGENT=ua,
    ).json()


def _warm(client, key: str, django_assert_num_queries, ua: str = WP_UA) -> dict[str, Any]:
    """Check twice; the second answer comes from the cache alone."""
    _puc(client, key, ua)
    with django_assert_num_queries(0):
        return _puc(client, key, ua)


def _change_form(license: License, **changes: Any) -> dict[str, Any]:
    """What the license change form posts back, with `changes` applied."""
    expires = changes.pop("expires_at", license.expires_at)
    activations = list(license.activations.order_by("pk"))
    data: dict[str, Any] = {
        "product": license.product_id,
        "customer": license.customer_id or "",
        "email": license.email,
        "status": license.status,
        "activation_limit": license.activation_limit,
        "expires_at_0": expires.strftime("%Y-%m-%d") if expires else "",
        "expires_at_1": expires.strftime("%H:%M:%S") if expires else "",
        "activations-TOTAL_FORMS": len(activations),
        "activations-INITIAL_FORMS": len(activations),
        "activations-MIN_NUM_FORMS": 0,
        "activations-MAX_NUM_FORMS": 1000,
    }
    for n, activation in enumerate(activations):
        data[f"activations-{n}-id"] = activation.pk
        data[f"activations-{n}-license"] = license.pk
    data.update(changes)
    return data


def _change_url(license: License) -> str:
    return f"/admin/licenses/license/{license.pk}/change/"


def test_disabling_a_license_in_the_admin_withholds_the_package_at_the_next_check(
    client, admin_client, issued, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # Given a warm check that offers the package
    license, key = issued
    assert "download_url" in _warm(client, key, django_assert_num_queries)

    # When a superuser sets the license's status to disabled on its change form
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(_change_url(license), _change_form(license, status="disabled"))
    assert response.status_code == 302

    # Then the next check (same Redis) offers no package and says why
    doc = _puc(client, key)
    assert "download_url" not in doc
    assert doc["upgrade_notice"] == "This license is disabled."
    license.refresh_from_db()
    assert license.status == License.Status.DISABLED


def test_shortening_the_expiry_to_the_past_withholds_the_package(
    client, admin_client, issued, django_assert_num_queries, django_capture_on_commit_callbacks
):
    license, key = issued
    assert "download_url" in _warm(client, key, django_assert_num_queries)

    yesterday = timezone.now() - timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            _change_url(license), _change_form(license, expires_at=yesterday)
        )
    assert response.status_code == 302

    doc = _puc(client, key)
    assert "download_url" not in doc
    assert "expired" in doc["upgrade_notice"]


def test_deleting_an_activation_in_the_admin_withholds_the_package(
    client, admin_client, issued, django_assert_num_queries, django_capture_on_commit_callbacks
):
    license, key = issued
    assert "download_url" in _warm(client, key, django_assert_num_queries)
    activation = Activation.objects.get(license=license)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/licenses/activation/{activation.pk}/delete/", {"post": "yes"}
        )
    assert response.status_code == 302

    assert not Activation.objects.filter(pk=activation.pk).exists()
    assert "download_url" not in _puc(client, key)


def test_deleting_an_activation_inline_on_the_license_withholds_the_package(
    client, admin_client, issued, django_assert_num_queries, django_capture_on_commit_callbacks
):
    license, key = issued
    assert "download_url" in _warm(client, key, django_assert_num_queries)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            _change_url(license), _change_form(license, **{"activations-0-DELETE": "on"})
        )
    assert response.status_code == 302

    assert not license.activations.exists()
    assert "download_url" not in _puc(client, key)


def test_bulk_deleting_activations_withholds_the_package(
    client, admin_client, issued, django_assert_num_queries, django_capture_on_commit_callbacks
):
    license, key = issued
    assert "download_url" in _warm(client, key, django_assert_num_queries)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/licenses/activation/",
            {
                "action": "delete_selected",
                "_selected_action": list(license.activations.values_list("pk", flat=True)),
                "post": "yes",
            },
        )
    assert response.status_code == 302

    assert not license.activations.exists()
    assert "download_url" not in _puc(client, key)


def test_the_bulk_disable_action_withholds_the_package(
    client, admin_client, issued, django_assert_num_queries, django_capture_on_commit_callbacks
):
    license, key = issued
    assert "download_url" in _warm(client, key, django_assert_num_queries)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/licenses/license/", {"action": "disable", "_selected_action": [license.pk]}
        )
    assert response.status_code == 302

    assert "download_url" not in _puc(client, key)
    license.refresh_from_db()
    assert license.status == License.Status.DISABLED


def test_an_activation_added_in_the_admin_is_offered_the_package_at_once(
    client, admin_client, issued, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # Given a second site the warm cache knows as not activated
    license, key = issued
    other_ua = "WordPress/6.7.1; https://blog.example.com/"
    assert "download_url" not in _warm(client, key, django_assert_num_queries, other_ua)

    # When the vendor adds that site on the Activations page, typed as a URL
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/licenses/activation/add/",
            {
                "license": license.pk,
                "site": "https://www.Blog.example.com/",
                "site_url": "https://blog.example.com/",
                "environment": "production",
                "is_active": "on",
            },
        )
    assert response.status_code == 302

    # Then it is stored as a site and the next check from it is offered the package
    assert license.activations.filter(site="blog.example.com", is_active=True).exists()
    assert "download_url" in _puc(client, key, other_ua)


def test_an_activation_with_a_bad_site_is_refused_with_a_reason(admin_client, issued):
    license, _ = issued

    response = admin_client.post(
        "/admin/licenses/activation/add/",
        {
            "license": license.pk,
            "site": "ftp://files.example.com",
            "site_url": "ftp://files.example.com",
            "environment": "production",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["site"]
    assert "must start with http:// or https://" in errors[0]
    assert license.activations.count() == 1


def test_licenses_cannot_be_deleted_in_the_admin(admin_client, issued):
    # A deleted license would stay cached; revoking or disabling is the way to stop one.
    license, _ = issued

    response = admin_client.post(f"/admin/licenses/license/{license.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert License.objects.filter(pk=license.pk).exists()


def test_a_license_added_in_the_admin_gets_a_key_its_owner_can_use(client, admin_client, issued):
    # Given a product with a release (from the fixture)
    product_id = issued[0].product_id

    # When the vendor adds a license by hand
    response = admin_client.post(
        "/admin/licenses/license/add/",
        {
            "product": product_id,
            "email": "gift@example.com",
            "status": "active",
            "activation_limit": 1,
            "activations-TOTAL_FORMS": 0,
            "activations-INITIAL_FORMS": 0,
            "activations-MIN_NUM_FORMS": 0,
            "activations-MAX_NUM_FORMS": 1000,
        },
    )
    assert response.status_code == 302

    # Then it has a real key, which activates a site and gets the package there
    added = License.objects.get(email="gift@example.com")
    key = license_key_reveal(license=added)
    assert added.key_hash == license_key_digest(key) and added.key_hint == key[-4:]
    activated = client.post(
        "/updates/v1/licenses/activate",
        json.dumps({"license_key": key, "slug": "formwell", "site_url": SITE}),
        content_type="application/json",
    )
    assert activated.status_code == 200
    assert "download_url" in _puc(client, key)
