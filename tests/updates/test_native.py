"""Native v1: POST /updates/v1/check in core's update_plugins shape, and /v1/licenses/*."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.licenses.models import Activation, License
from tests.builders import SITE, WP_UA

pytestmark = pytest.mark.django_db

ITEM_FIELDS = {
    "id",
    "slug",
    "plugin",
    "new_version",
    "url",
    "package",
    "icons",
    "banners",
    "requires",
    "tested",
    "requires_php",
    "upgrade_notice",
}


def _post(client, path, body, ua=WP_UA):
    return client.post(path, json.dumps(body), content_type="application/json", HTTP_USER_AGENT=ua)


def _core_request(key="", version="2.4.0", **extra):
    body = {
        "plugins": {
            "formwell/formwell.php": {"Name": "Formwell", "Version": version},
            "akismet/akismet.php": {"Name": "Akismet", "Version": "5.3"},
        },
        "active": ["formwell/formwell.php"],
        "locale": ["de_DE"],
        "wp_version": "6.7.1",
        "php_version": "8.2.10",
        "site_url": SITE,
        "licenses": {"formwell/formwell.php": key} if key else {},
    }
    body.update(extra)
    return body


def test_an_update_for_a_licensed_site_in_core_shape(client, release, issued):
    response = _post(client, "/updates/v1/check", _core_request(issued.key))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"plugins", "no_update", "translations"}
    assert list(body["plugins"]) == ["formwell/formwell.php"]  # akismet is not ours
    assert body["no_update"] == {} and body["translations"] == []
    item = body["plugins"]["formwell/formwell.php"]
    assert set(item) == ITEM_FIELDS
    assert item["id"] == "testserver/plugins/formwell"
    assert (item["slug"], item["plugin"], item["new_version"]) == (
        "formwell",
        "formwell/formwell.php",
        "2.4.1",
    )
    assert item["url"] == "https://formwell.example.com/"
    assert item["package"].startswith("http://testserver/updates/download/")
    assert item["package"].endswith("/formwell-2.4.1.zip")
    assert item["icons"] == {
        "1x": "https://cdn.example.com/formwell-128.png",
        "2x": "https://cdn.example.com/formwell-256.png",
    }
    assert item["banners"] == {
        "1x": "https://cdn.example.com/formwell-772x250.png",
        "2x": "https://cdn.example.com/formwell-1544x500.png",
    }
    assert (item["requires"], item["tested"], item["requires_php"]) == ("6.0", "6.7", "7.4")
    assert item["upgrade_notice"] == "2.4.1 is a safe update."


def test_an_up_to_date_plugin_is_listed_under_no_update(client, release, issued):
    body = _post(client, "/updates/v1/check", _core_request(issued.key, version="2.4.1")).json()

    assert body["plugins"] == {}
    assert body["no_update"]["formwell/formwell.php"]["new_version"] == "2.4.1"


def test_without_a_license_the_update_is_listed_without_a_package(client, release):
    body = _post(client, "/updates/v1/check", _core_request()).json()

    item = body["plugins"]["formwell/formwell.php"]
    assert item["package"] == ""
    assert item["upgrade_notice"] == (
        "Enter your license key in the plugin's settings to receive updates."
    )


def test_core_nested_plugins_shape_is_accepted(client, release, issued):
    request = _core_request(issued.key)
    request["plugins"] = {"plugins": request["plugins"], "active": request.pop("active")}

    body = _post(client, "/updates/v1/check", request).json()

    assert body["plugins"]["formwell/formwell.php"]["new_version"] == "2.4.1"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "The request body is not valid JSON."),
        (b"[1, 2]", "The request body must be a JSON object."),
        (b"{}", "'plugins' must be an object"),
        (b'{"plugins": {"a/a.php": 3}}', "The headers of 'a/a.php' are missing."),
        (b'{"plugins": {"a/a.php": {}}, "licenses": []}', "'licenses' must map"),
    ],
)
def test_bad_check_requests_get_a_400_with_a_code(client, release, payload, message):
    response = client.post("/updates/v1/check", payload, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] in ("invalid_json", "invalid_request")
    assert message in response.json()["message"]


# --- licenses -----------------------------------------------------------------------------


def _license(client, action, **body):
    return _post(client, f"/updates/v1/licenses/{action}", body)


def test_activate_then_check_then_deactivate(client, product, issue):
    issued = issue(sites=2, activate=None)

    activated = _license(client, "activate", license_key=issued.key, slug="formwell")
    checked = _license(client, "check", license_key=issued.key, slug="formwell")
    deactivated = _license(client, "deactivate", license_key=issued.key, slug="formwell")
    after = _license(client, "check", license_key=issued.key, slug="formwell")

    assert activated.status_code == 200
    assert activated.json() == {
        "status": "valid",
        "message": "This license is now active on this site.",
        "site": "shop.example.com",
        "license": {
            "product": "Formwell",
            "expires": issued.license.expires_at.isoformat(),
            "activation_limit": 2,
            "site_count": 1,
            "activations_left": 1,
        },
    }
    assert checked.json()["status"] == "valid"
    assert deactivated.json()["status"] == "deactivated"
    assert after.json()["status"] == "inactive"
    assert Activation.objects.filter(license=issued.license, is_active=False).count() == 1


def test_activate_with_no_slot_left_is_a_409(client, product, issue):
    issued = issue(sites=1, activate="https://first.example.com")

    response = _license(client, "activate", license_key=issued.key, slug="formwell")

    assert response.status_code == 409
    assert response.json()["code"] == "no_activations_left"
    assert "Deactivate one of them" in response.json()["message"]


def test_activate_an_expired_license_is_a_403_that_says_where_to_renew(client, product, issue):
    issued = issue(activate=None)
    License.objects.filter(pk=issued.license.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )

    response = _license(client, "activate", license_key=issued.key, slug="formwell")

    assert response.status_code == 403
    assert response.json()["code"] == "expired"
    assert "Renew it at https://shop.example.com/account/" in response.json()["message"]
    assert not Activation.objects.exists()


def test_license_requests_need_a_key_and_a_slug(client, product):
    missing_key = _license(client, "activate", slug="formwell")
    missing_slug = _license(client, "check", license_key="X")
    unknown_key = _license(client, "check", license_key="NOPE", slug="formwell")
    unknown_slug = _license(client, "activate", license_key="NOPE", slug="nope")

    assert (missing_key.status_code, missing_key.json()["code"]) == (400, "invalid_request")
    assert (missing_slug.status_code, missing_slug.json()["code"]) == (400, "invalid_request")
    assert (unknown_key.status_code, unknown_key.json()["code"]) == (404, "missing")
    assert (unknown_slug.status_code, unknown_slug.json()["code"]) == (404, "missing")


def test_a_key_for_another_plugin_is_refused(client, product, issue):
    from apps.licenses.services import product_upsert

    product_upsert(slug="searchlight", name="Searchlight SEO")
    issued = issue(activate=None)

    response = _license(client, "activate", license_key=issued.key, slug="searchlight")

    assert response.status_code == 403
    assert response.json() == {
        "code": "item_name_mismatch",
        "message": "This license key is for Formwell, not Searchlight SEO.",
    }
