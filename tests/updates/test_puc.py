"""Plugin Update Checker metadata: GET /updates/puc/<slug>/, field by field (DESIGN.md §3.1)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.licenses.services import license_revoke, product_configure
from tests.builders import WP_UA

pytestmark = pytest.mark.django_db

PUC_FIELDS = {
    "name",
    "slug",
    "version",
    "download_url",
    "homepage",
    "requires",
    "tested",
    "requires_php",
    "last_updated",
    "upgrade_notice",
    "author",
    "author_homepage",
    "sections",
    "banners",
    "icons",
}


def _puc(client, slug="formwell", ua=WP_UA, **query):
    query.setdefault("installed_version", "2.4.0")
    query.setdefault("php", "8.2")
    query.setdefault("locale", "en_US")
    query.setdefault("checking_for_updates", "1")
    return client.get(f"/updates/puc/{slug}/", query, HTTP_USER_AGENT=ua)


def test_a_licensed_site_gets_every_puc_field_and_a_package(client, release, issued):
    response = _puc(client, license_key=issued.key)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    doc = response.json()
    assert set(doc) == PUC_FIELDS
    assert doc["name"] == "Formwell"
    assert doc["slug"] == "formwell"
    assert doc["version"] == "2.4.1"
    assert doc["homepage"] == "https://formwell.example.com/"
    assert (doc["requires"], doc["tested"], doc["requires_php"]) == ("6.0", "6.7", "7.4")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", doc["last_updated"])
    assert doc["upgrade_notice"] == "2.4.1 is a safe update."
    assert (doc["author"], doc["author_homepage"]) == (
        "Formwell Ltd",
        "https://formwell.example.com/about/",
    )
    assert doc["sections"] == {
        "description": "<p>Forms that work.</p>",
        "installation": "<p>Upload and activate.</p>",
        "changelog": "<h4>2.4.1</h4><ul><li>Fixes.</li></ul>",
    }
    assert doc["banners"] == {
        "low": "https://cdn.example.com/formwell-772x250.png",
        "high": "https://cdn.example.com/formwell-1544x500.png",
    }
    assert doc["icons"] == {
        "1x": "https://cdn.example.com/formwell-128.png",
        "2x": "https://cdn.example.com/formwell-256.png",
        "svg": "https://cdn.example.com/formwell.svg",
    }
    assert re.fullmatch(
        r"http://testserver/updates/download/[A-Za-z0-9_\-:]+/formwell-2\.4\.1\.zip",
        doc["download_url"],
    )


def test_without_a_key_the_update_shows_without_a_package_and_says_why(client, release):
    doc = _puc(client).json()

    assert doc["version"] == "2.4.1"
    assert "download_url" not in doc
    assert doc["upgrade_notice"] == (
        "Enter your license key in the plugin's settings to receive updates."
    )


def test_an_expired_license_says_when_and_where_to_renew(client, release, issue):
    issued = issue()
    issued.license.expires_at = timezone.now() - timedelta(days=3)
    issued.license.save()

    doc = _puc(client, license_key=issued.key).json()

    assert "download_url" not in doc
    assert doc["upgrade_notice"].startswith("This license expired on ")
    assert "Renew it at https://shop.example.com/account/" in doc["upgrade_notice"]


def test_a_revoked_license_gets_no_package(client, release, issued):
    license_revoke(license_id=issued.license.pk)

    doc = _puc(client, license_key=issued.key).json()

    assert "download_url" not in doc
    assert doc["upgrade_notice"] == "This license was revoked."


def test_a_site_the_license_is_not_activated_on_gets_no_package(client, release, issued):
    # With explicit activation; on_check (the default) is tests/updates/test_activate_on_check.py.
    product_configure(slug="formwell", activation="explicit")

    doc = _puc(
        client, license_key=issued.key, ua="WordPress/6.7.1; https://other.example.org"
    ).json()

    assert "download_url" not in doc
    assert "not activated for this site" in doc["upgrade_notice"]


def test_an_unknown_key_is_named_invalid(client, release):
    doc = _puc(client, license_key="AAAAA-BBBBB-CCCCC-DDDDD-EEEEE-FFFFF").json()

    assert "download_url" not in doc
    assert doc["upgrade_notice"] == "This license key is not valid. Check it in your account."


def test_an_unknown_plugin_is_a_404_with_a_code(client, release):
    response = _puc(client, slug="no-such-plugin")

    assert response.status_code == 404
    assert response.json() == {
        "code": "unknown_product",
        "message": "There is no plugin called 'no-such-plugin' here.",
    }


def test_a_product_without_releases_is_a_404_with_a_code(client, product):
    response = _puc(client)

    assert response.status_code == 404
    assert response.json()["code"] == "no_release"


def test_beta_releases_go_only_to_sites_that_ask(client, publish, issued):
    publish("2.4.1")
    publish("2.5.0-beta1", channel="beta")

    assert _puc(client, license_key=issued.key).json()["version"] == "2.4.1"
    beta = _puc(client, license_key=issued.key, beta="1").json()
    assert beta["version"] == "2.5.0-beta1"
    assert beta["download_url"].endswith("/formwell-2.5.0-beta1.zip")


def test_a_release_is_not_offered_below_its_wordpress_minimum(client, publish, issued):
    publish("2.4.1", requires_wp="6.0")
    publish("3.0.0", requires_wp="6.9")

    old_wp = _puc(client, license_key=issued.key, ua="WordPress/6.7.1; https://shop.example.com/")
    new_wp = _puc(client, license_key=issued.key, ua="WordPress/6.9; https://shop.example.com/")

    assert old_wp.json()["version"] == "2.4.1"
    assert new_wp.json()["version"] == "3.0.0"


def test_a_release_is_not_offered_below_its_php_minimum(client, publish, issued):
    publish("2.4.1", requires_php="7.4")
    publish("3.0.0", requires_php="8.1")

    assert _puc(client, license_key=issued.key, php="7.4.33").json()["version"] == "2.4.1"
    assert _puc(client, license_key=issued.key, php="8.3.1").json()["version"] == "3.0.0"


def test_when_no_release_fits_the_site_the_newest_is_shown_without_a_package(
    client, publish, issued
):
    publish("3.0.0", requires_php="8.1")

    doc = _puc(client, license_key=issued.key, php="7.4.33").json()

    assert doc["version"] == "3.0.0"
    assert "download_url" not in doc
    assert doc["upgrade_notice"] == "Version 3.0.0 requires PHP 8.1 or later; this site runs 7.4."


def test_a_staged_rollout_reaches_a_stable_share_of_sites(client, publish, issue):
    publish("2.4.1")
    publish("2.5.0", rollout_percent=50)
    issued = issue(sites=0, activate=None)
    from apps.licenses.services import license_activate

    sites = [f"https://site{n}.example.net/" for n in range(40)]
    for site in sites:
        license_activate(license_id=issued.license.pk, site_url=site)

    def offered(site):
        ua = f"WordPress/6.7.1; {site}"
        return _puc(client, license_key=issued.key, ua=ua).json()["version"]

    first = [offered(site) for site in sites]
    again = [offered(site) for site in sites]

    assert first == again  # a site's bucket is stable
    assert set(first) == {"2.4.1", "2.5.0"}
    assert 8 <= first.count("2.5.0") <= 32


def test_puc_answers_only_get_and_head(client, release):
    response = client.post("/updates/puc/formwell/")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"


def test_an_unknown_path_under_updates_is_a_json_404(client):
    response = client.get("/updates/no/such/thing")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_check_that_names_no_site_is_told_so(client, release, issued):
    doc = _puc(client, license_key=issued.key, ua="curl/8.5").json()

    assert "download_url" not in doc
    assert doc["upgrade_notice"] == (
        "This site did not say which site it is, so its license cannot be matched."
    )
