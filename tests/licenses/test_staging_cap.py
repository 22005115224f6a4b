"""Free staging activations: the host decides, the client's `environment` only if trusted, capped.

Issue 9 item 3: eight `activate_license` calls for shop1..8.realcustomer.com with
`environment=staging` on a 5-site key were all valid and free, and every site got packages.
"""

from __future__ import annotations

import json

import pytest

from apps.licenses.models import Activation, License
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.services import release_publish
from tests.builders import license_make, product_make

pytestmark = pytest.mark.django_db

SHOPS = [f"https://shop{n}.realcustomer.com" for n in range(1, 9)]


@pytest.fixture
def key(db: None) -> str:
    """A 5-site key for Formwell, which has a published release; no site activated yet."""
    product = product_make()
    spec = PluginSpec(slug="formwell", name="Formwell", version="2.4.1", description="x")
    release_publish(product=product, version="2.4.1", zip_content=plugin_zip_build(spec))
    return license_make(product, sites=5).key


def _edd_activate(client, key: str, url: str, environment: str = "staging") -> dict:
    return client.post(
        "/updates/edd/",
        {
            "edd_action": "activate_license",
            "license": key,
            "item_name": "Formwell",
            "url": url,
            "environment": environment,
        },
    ).json()


def _native_activate(client, key: str, url: str, environment: str = "staging"):
    return client.post(
        "/updates/v1/licenses/activate",
        json.dumps(
            {"license_key": key, "slug": "formwell", "site_url": url, "environment": environment}
        ),
        content_type="application/json",
    )


def _offered_package(client, key: str, site: str) -> bool:
    doc = client.get(
        "/updates/puc/formwell/",
        {"license_key": key, "installed_version": "2.4.0"},
        HTTP_USER_AGENT=f"WordPress/6.7.1; {site}/",
    ).json()
    return "download_url" in doc


def _slots(key_license: License) -> tuple[int, int]:
    active = Activation.objects.filter(license=key_license, is_active=True)
    return active.filter(is_staging=False).count(), active.filter(is_staging=True).count()


def test_edd_environment_staging_on_production_hosts_takes_normal_slots(client, key):
    # Given a 5-site key and the default settings (the client's environment is not trusted)

    # When eight production-looking shops activate saying environment=staging
    bodies = [_edd_activate(client, key, url) for url in SHOPS]

    # Then five are valid, each taking a slot, and the last three are refused
    assert [b["success"] for b in bodies] == [True] * 5 + [False] * 3
    assert [b.get("is_local") for b in bodies[:5]] == [None] * 5
    assert [b["site_count"] for b in bodies[:5]] == [1, 2, 3, 4, 5]
    assert {b.get("error") for b in bodies[5:]} == {"no_activations_left"}
    license = License.objects.get()
    assert _slots(license) == (5, 0)
    # and nothing was written for the refused shops
    assert not Activation.objects.filter(site__startswith="shop6").exists()
    # and only the five activated shops get a package from an update check
    assert [_offered_package(client, key, url) for url in SHOPS] == [True] * 5 + [False] * 3


def test_native_environment_staging_on_production_hosts_takes_normal_slots(client, key):
    # Given a 5-site key, the client's environment not trusted

    # When eight production-looking shops activate through the native API
    responses = [_native_activate(client, key, url) for url in SHOPS]

    # Then five get a slot each and the rest are told none is left (409)
    assert [r.status_code for r in responses] == [200] * 5 + [409] * 3
    assert [r.json()["license"]["site_count"] for r in responses[:5]] == [1, 2, 3, 4, 5]
    assert {r.json()["code"] for r in responses[5:]} == {"no_activations_left"}
    assert _slots(License.objects.get()) == (5, 0)
    assert [_offered_package(client, key, url) for url in SHOPS] == [True] * 5 + [False] * 3


def test_a_trusted_environment_hint_is_free_only_up_to_the_cap(client, key, settings):
    # Given a vendor who trusts the client's environment, with three free staging copies
    settings.DEPOT_TRUST_CLIENT_ENVIRONMENT = True
    settings.DEPOT_FREE_STAGING_SITES = 3

    # When eight shops activate saying environment=staging, and a ninth after them
    bodies = [_edd_activate(client, key, url) for url in SHOPS]
    ninth = _edd_activate(client, key, "https://shop9.realcustomer.com")

    # Then the first three are free local sites and the next five take the five slots
    assert [b["success"] for b in bodies] == [True] * 8
    assert [b.get("is_local") for b in bodies] == [True] * 3 + [None] * 5
    assert [b["site_count"] for b in bodies] == [0, 0, 0, 1, 2, 3, 4, 5]
    # and the ninth is refused: the cap and the slots are both used up
    assert (ninth["success"], ninth["error"]) == (False, "no_activations_left")
    assert "free staging copies are in use" in ninth["msg"]
    assert _slots(License.objects.get()) == (5, 3)


@pytest.mark.parametrize(
    "staging_hosts",
    [
        [
            "https://staging.shop.example.com",
            "http://localhost:8080",
            "http://mysite.local",
        ],
        ["http://192.168.1.20", "https://shop.wpengine.com", "https://dev.shop.example.com"],
    ],
)
def test_real_staging_hosts_stay_free_up_to_the_cap(client, key, settings, staging_hosts):
    # Given a 5-site key with three free staging copies, active on one production shop
    settings.DEPOT_FREE_STAGING_SITES = 3
    assert _native_activate(client, key, SHOPS[0], environment="production").status_code == 200

    # When three staging-looking hosts activate, then a fourth one
    first = [_edd_activate(client, key, url, environment="production") for url in staging_hosts]
    fourth = _edd_activate(client, key, "https://stage.shop.example.com")

    # Then the three are free local sites; the fourth takes a normal slot
    assert [(b["success"], b.get("is_local")) for b in first] == [(True, True)] * 3
    assert [b["site_count"] for b in first] == [1, 1, 1]
    assert (fourth["success"], fourth.get("is_local"), fourth["site_count"]) == (True, None, 2)
    assert _slots(License.objects.get()) == (2, 3)
    # and each of them gets packages
    sites = [*staging_hosts, "https://stage.shop.example.com"]
    assert [_offered_package(client, key, url) for url in sites] == [True] * 4
