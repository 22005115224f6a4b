"""EDD Software Licensing's edd_action API, field by field (DESIGN.md §3.2, compatibility.md)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import phpserialize
import pytest
from django.utils import timezone

from apps.licenses.models import Activation, License
from apps.licenses.services import license_revoke, product_upsert
from tests.builders import SITE, WP_UA
from tests.updates.wordpress_side import php_unserialize

pytestmark = pytest.mark.django_db

LICENSE_FIELDS = {
    "license_limit",
    "site_count",
    "expires",
    "activations_left",
    "payment_id",
    "customer_name",
    "customer_email",
    "price_id",
}


def _edd(client, path="/updates/edd/", method="post", ua=WP_UA, **params):
    if method == "get":
        return client.get(path, params, HTTP_USER_AGENT=ua)
    return client.post(path, params, HTTP_USER_AGENT=ua)


def _php_checksum(values):
    ordered = sorted(values, key=lambda v: 0 if v is False else len(str(v).encode()), reverse=True)
    encoded = json.dumps(ordered, separators=(",", ":")).replace("/", "\\/")
    return hashlib.md5(encoded.encode()).hexdigest()  # noqa: S324 (EDD's checksum)


# --- activate_license ---------------------------------------------------------------------


def test_activate_succeeds_with_every_edd_field(client, product, issue):
    issued = issue(sites=3, activate=None)

    response = _edd(
        client,
        edd_action="activate_license",
        license=issued.key,
        item_name="Formwell",
        url="https://www.Example.com/",
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"success", "license", "item_id", "item_name", "checksum"} | LICENSE_FIELDS
    assert body["success"] is True
    assert body["license"] == "valid"
    assert body["item_id"] is False
    assert body["item_name"] == "Formwell"
    assert body["license_limit"] == 3
    assert body["site_count"] == 1
    assert body["activations_left"] == 2
    assert body["expires"] == issued.license.expires_at.strftime("%Y-%m-%d %H:%M:%S")
    assert body["customer_email"] == "buyer@example.com"
    assert body["price_id"] is False
    assert body["checksum"] == _php_checksum(
        ["Formwell", issued.key, "https://www.Example.com/", False, "production"]
    )
    assert Activation.objects.get(license=issued.license).site == "example.com"


def test_activate_again_on_the_same_site_is_idempotent(client, product, issue):
    issued = issue(sites=1, activate=SITE)

    body = _edd(
        client, edd_action="activate_license", license=issued.key, item_name="Formwell", url=SITE
    ).json()

    assert (body["success"], body["site_count"], body["activations_left"]) == (True, 1, 0)


def test_activate_with_no_slot_left_says_no_activations_left(client, product, issue):
    issued = issue(sites=1, activate="https://first.example.com")

    body = _edd(
        client, edd_action="activate_license", license=issued.key, item_name="Formwell", url=SITE
    ).json()

    assert body["success"] is False
    assert body["license"] == "invalid"
    assert body["error"] == "no_activations_left"
    assert body["max_sites"] == 1
    assert body["activations_left"] == 0
    assert "already active on 1 of 1 sites" in body["msg"]


def test_a_staging_site_is_activated_as_local_without_a_slot(client, product, issue):
    issued = issue(sites=1, activate="https://first.example.com")

    body = _edd(
        client,
        edd_action="activate_license",
        license=issued.key,
        item_name="Formwell",
        url="https://staging.first.example.com",
    ).json()

    assert (body["success"], body.get("is_local"), body["site_count"]) == (True, True, 1)


def test_unlimited_and_lifetime_licenses_say_so(client, product, issue):
    issued = issue(sites=0, days=None, activate=None)

    body = _edd(
        client, edd_action="activate_license", license=issued.key, item_name="Formwell", url=SITE
    ).json()

    assert (body["license_limit"], body["activations_left"], body["expires"]) == (
        0,
        "unlimited",
        "lifetime",
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ("revoke", "disabled"),
        ("disable", "disabled"),
        ("expire", "expired"),
    ],
)
def test_activate_refuses_unusable_licenses_with_edd_errors(client, product, issue, change, error):
    issued = issue(activate=None)
    if change == "revoke":
        license_revoke(license_id=issued.license.pk)
    elif change == "disable":
        License.objects.filter(pk=issued.license.pk).update(status=License.Status.DISABLED)
    else:
        License.objects.filter(pk=issued.license.pk).update(
            expires_at=timezone.now() - timedelta(days=1)
        )

    body = _edd(
        client, edd_action="activate_license", license=issued.key, item_name="Formwell", url=SITE
    ).json()

    assert (body["success"], body["license"], body["error"]) == (False, "invalid", error)
    assert not Activation.objects.filter(license=issued.license).exists()


def test_activate_an_unknown_key_is_missing(client, product):
    body = _edd(
        client, edd_action="activate_license", license="NOPE", item_name="Formwell", url=SITE
    ).json()

    assert set(body) == {"success", "license", "item_id", "item_name", "error", "checksum", "msg"}
    assert (body["success"], body["license"], body["error"]) == (False, "invalid", "missing")


def test_activate_without_a_url_or_user_agent_is_missing_url(client, product, issue):
    issued = issue(activate=None)

    body = _edd(
        client, ua="curl/8", edd_action="activate_license", license=issued.key, item_name="Formwell"
    ).json()

    assert body["error"] == "missing_url"


def test_activate_reads_the_site_from_wordpress_user_agent(client, product, issue):
    issued = issue(activate=None)

    body = _edd(client, edd_action="activate_license", license=issued.key, item_name="Formwell")

    assert body.json()["success"] is True
    assert Activation.objects.get(license=issued.license).site == "shop.example.com"


def test_activate_for_another_product_names_the_mismatched_identifier(client, product, issue):
    issued = issue(activate=None)
    other = product_upsert(slug="searchlight", name="Searchlight SEO")
    other.edd_item_id = 4242
    other.save()

    by_name = _edd(
        client,
        edd_action="activate_license",
        license=issued.key,
        item_name="Searchlight SEO",
        url=SITE,
    ).json()
    by_id = _edd(
        client, edd_action="activate_license", license=issued.key, item_id="4242", url=SITE
    ).json()
    unknown_id = _edd(
        client, edd_action="activate_license", license=issued.key, item_id="999999", url=SITE
    ).json()

    assert by_name["error"] == "item_name_mismatch"
    assert by_id["error"] == "invalid_item_id"
    assert by_id["item_id"] == 4242
    assert unknown_id["error"] == "invalid_item_id"
    assert not Activation.objects.filter(license=issued.license).exists()


def test_item_id_finds_the_product_by_its_edd_id(client, product, issue):
    product.edd_item_id = 1234
    product.save()
    issued = issue(activate=None)

    body = _edd(
        client, edd_action="activate_license", license=issued.key, item_id="1234", url=SITE
    ).json()

    assert (body["success"], body["item_id"], body["item_name"]) == (True, 1234, "Formwell")


def test_item_name_is_compared_like_sanitize_title_and_decoded_again(client, product, issue):
    issued = issue(activate=None)

    body = _edd(
        client,
        edd_action="activate_license",
        license=issued.key,
        item_name="formwell%20",  # rawurlencode()d inside a form body, as EDD's sample does
        url=SITE,
    ).json()

    assert body["success"] is True


# --- deactivate_license -------------------------------------------------------------------


def test_deactivate_frees_the_slot_and_keeps_history(client, product, issue):
    issued = issue(sites=1, activate=SITE)

    response = _edd(
        client, edd_action="deactivate_license", license=issued.key, item_name="Formwell", url=SITE
    )

    body = response.json()
    assert response.status_code == 200
    assert set(body) == {
        "success",
        "license",
        "item_id",
        "item_name",
        "checksum",
        "expires",
        "payment_id",
        "customer_name",
        "customer_email",
        "price_id",
    }
    assert (body["success"], body["license"]) == (True, "deactivated")
    assert body["expires"] == int(issued.license.expires_at.timestamp())  # EDD's Unix quirk
    assert body["checksum"] == _php_checksum([False, "Formwell", issued.key, SITE, "production"])
    activation = Activation.objects.get(license=issued.license)
    assert (activation.is_active, activation.deactivated_at is not None) == (False, True)


def test_deactivate_a_site_that_was_not_active_fails(client, product, issue):
    issued = issue(activate=SITE)

    body = _edd(
        client,
        edd_action="deactivate_license",
        license=issued.key,
        item_name="Formwell",
        url="https://elsewhere.example.com",
    ).json()

    assert (body["success"], body["license"]) == (False, "failed")


def test_deactivate_an_unknown_key_fails_without_license_fields(client, product):
    body = _edd(
        client, edd_action="deactivate_license", license="NOPE", item_name="Formwell", url=SITE
    ).json()

    assert (body["success"], body["license"]) == (False, "failed")
    assert "expires" not in body and "customer_email" not in body


# --- check_license ------------------------------------------------------------------------


def _check(client, key, url=SITE, **extra):
    params = {"edd_action": "check_license", "license": key, "item_name": "Formwell", "url": url}
    return _edd(client, **{**params, **extra}).json()


def test_check_valid_has_every_field(client, product, issue):
    issued = issue(sites=2, activate=SITE)

    body = _check(client, issued.key)

    assert set(body) == {"success", "license", "item_id", "item_name", "checksum", "msg"} | (
        LICENSE_FIELDS
    )
    assert (body["success"], body["license"]) == (True, "valid")
    assert (body["license_limit"], body["site_count"], body["activations_left"]) == (2, 1, 1)
    assert body["checksum"] == _php_checksum([False, "Formwell", issued.key, SITE])


def test_check_statuses_follow_edd_and_success_is_false_only_for_invalid(client, product, issue):
    active = issue(activate=SITE)
    never = issue(activate=None)
    expired = issue(activate=SITE)
    License.objects.filter(pk=expired.license.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    revoked = issue(activate=SITE)
    license_revoke(license_id=revoked.license.pk)
    other = product_upsert(slug="searchlight", name="Searchlight SEO")
    other.edd_item_id = 77
    other.save()

    seen = {
        "valid": _check(client, active.key),
        "site_inactive": _check(client, active.key, url="https://other.example.org"),
        "inactive": _check(client, never.key),
        "expired": _check(client, expired.key),
        "disabled": _check(client, revoked.key),
        "invalid": _check(client, "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE-FFFFF"),
        "item_name_mismatch": _check(client, active.key, item_name="Searchlight SEO"),
        "invalid_item_id": _check(client, active.key, item_name="", item_id="77"),
    }

    for status, body in seen.items():
        assert body["license"] == status, (status, body)
        assert body["success"] is (status != "invalid"), status
    assert set(seen["invalid"]) == {"success", "license", "item_id", "item_name", "checksum", "msg"}


# --- get_version --------------------------------------------------------------------------


def _version(client, **params):
    base = {
        "edd_action": "get_version",
        "item_name": "Formwell",
        "slug": "formwell",
        "version": "2.4.0",
        "url": SITE,
        "beta": "0",
        "php_version": "8.2.10",
        "wp_version": "6.7.1",
        "author": "Formwell Ltd",
    }
    return _edd(client, **{**base, **params})


def test_get_version_for_a_licensed_site_has_every_field(client, release, issued):
    response = _version(client, license=issued.key)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "new_version",
        "stable_version",
        "name",
        "slug",
        "url",
        "last_updated",
        "homepage",
        "package",
        "download_link",
        "sections",
        "banners",
        "icons",
        "requires",
        "tested",
        "requires_php",
        "upgrade_notice",
    }
    assert (body["new_version"], body["stable_version"]) == ("2.4.1", "2.4.1")
    assert (body["name"], body["slug"]) == ("Formwell", "formwell")
    assert body["homepage"] == body["url"] == "https://formwell.example.com/"
    assert body["package"] == body["download_link"]
    assert body["package"].endswith("/formwell-2.4.1.zip")
    assert (body["requires"], body["tested"], body["requires_php"]) == ("6.0", "6.7", "7.4")
    # PHP-serialized, as EDD sends them; checked with the reference decoder.
    sections = phpserialize.loads(body["sections"].encode(), decode_strings=True)
    assert sections == {
        "description": "<p>Forms that work.</p>",
        "installation": "<p>Upload and activate.</p>",
        "changelog": "<h4>2.4.1</h4><ul><li>Fixes.</li></ul>",
    }
    assert phpserialize.loads(body["banners"].encode(), decode_strings=True) == {
        "high": "https://cdn.example.com/formwell-1544x500.png",
        "low": "https://cdn.example.com/formwell-772x250.png",
    }
    assert php_unserialize(body["icons"]) == {
        "1x": "https://cdn.example.com/formwell-128.png",
        "2x": "https://cdn.example.com/formwell-256.png",
    }


def test_get_version_without_a_valid_license_shows_the_update_without_a_package(
    client, release, issue
):
    expired = issue()
    License.objects.filter(pk=expired.license.pk).update(
        expires_at=timezone.now() - timedelta(days=2)
    )

    none = _version(client, license="").json()
    lapsed = _version(client, license=expired.key).json()

    assert (none["new_version"], none["package"], none["download_link"]) == ("2.4.1", "", "")
    assert none["msg"] == "Enter your license key in the plugin's settings to receive updates."
    assert lapsed["package"] == ""
    assert lapsed["msg"].startswith("This license expired on ")


def test_get_version_beta_only_when_asked(client, publish, issued):
    publish("2.4.1")
    publish("2.5.0-beta2", channel="beta", changelog="<p>beta notes</p>")

    stable = _version(client, license=issued.key).json()
    beta = _version(client, license=issued.key, beta="1").json()

    assert stable["new_version"] == "2.4.1"
    assert (beta["new_version"], beta["stable_version"]) == ("2.5.0-beta2", "2.4.1")
    assert "beta notes" in php_unserialize(beta["sections"])["changelog"]


def test_get_version_below_the_minimum_tells_the_site_its_own_version(client, publish, issued):
    publish("3.0.0", requires_php="8.3")

    body = _version(client, license=issued.key, version="2.4.0", php_version="8.1.2").json()

    assert body["new_version"] == "2.4.0"
    assert body["package"] == ""
    assert body["msg"] == "Version 3.0.0 requires PHP 8.3 or later; this site runs 8.1."


def test_get_version_for_an_unknown_plugin_is_edds_error_shape(client, release):
    body = _version(client, slug="nope", item_name="Nope").json()

    assert body == {
        "new_version": "",
        "stable_version": "",
        "sections": "",
        "license_check": "",
        "msg": "This server does not sell that plugin.",
        "homepage": "",
        "package": "",
        "icons": [],
        "banners": [],
    }


def test_get_version_finds_a_plugin_by_item_id_when_the_folder_differs(
    client, product, release, issued
):
    product.edd_item_id = 555
    product.save()

    body = _version(client, slug="formwell-pro", item_id="555", license=issued.key).json()

    assert body["new_version"] == "2.4.1"
    assert body["slug"] == "formwell-pro"  # echoed, as EDD does
    assert body["package"].endswith("/formwell-2.4.1.zip")


def test_get_version_reads_the_query_string_when_edd_action_is_there(client, release, issued):
    response = client.get(
        "/updates/edd/",
        {"edd_action": "get_version", "slug": "formwell", "license": issued.key, "url": SITE},
        HTTP_USER_AGENT=WP_UA,
    )

    assert response.json()["package"].endswith("/formwell-2.4.1.zip")


def test_get_version_products_batch_answers_each_entry(client, product, publish, issue):
    publish("2.4.1")
    other = product_upsert(slug="searchlight", name="Searchlight SEO")
    from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
    from apps.updates.services import release_publish

    release_publish(
        product=other,
        version="1.9.0",
        zip_content=plugin_zip_build(
            PluginSpec(slug="searchlight", name="Searchlight SEO", version="1.9.0", description="x")
        ),
    )
    issued = issue()

    response = client.post(
        "/updates/edd/",
        {
            "edd_action": "get_version",
            "products[formwell][license]": issued.key,
            "products[formwell][slug]": "formwell",
            "products[formwell][url]": SITE,
            "products[formwell][version]": "2.4.0",
            "products[searchlight][slug]": "searchlight",
            "products[searchlight][version]": "1.9.0",
            "products[searchlight][url]": SITE,
            "products[ghost][slug]": "ghost",
        },
        HTTP_USER_AGENT=WP_UA,
    )

    body = response.json()
    assert response.status_code == 200
    assert list(body) == ["formwell", "searchlight", "ghost"]
    assert body["formwell"]["package"].endswith("/formwell-2.4.1.zip")
    assert body["searchlight"]["new_version"] == "1.9.0"
    assert body["searchlight"]["package"] == ""
    assert body["ghost"]["new_version"] == "" and body["ghost"]["sections"] == ""


def test_an_empty_products_batch_says_no_item_provided(client, release):
    response = client.post("/updates/edd/", {"edd_action": "get_version", "products": ""})

    assert response.status_code == 200
    assert response.json() == {"msg": "No item provided"}


def test_the_updates_host_root_answers_edd_actions(client, release, issued, settings):
    settings.ROOT_URLCONF = "config.urls_updates"

    body = _version(client, path="/", license=issued.key)
    index = client.get("/", HTTP_USER_AGENT=WP_UA)

    assert body.json()["new_version"] == "2.4.1"
    assert index.status_code == 200  # EDD's older updater probes the root first
    assert index.json()["service"] == "depot-updates"


def test_an_unknown_action_is_a_json_400(client, release):
    response = _edd(client, edd_action="delete_everything")

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_action"
