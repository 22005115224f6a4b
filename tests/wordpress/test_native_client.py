"""docs/clients/depot-updates-client.php inside a real WordPress, against a live Depot.

WordPress core is Debian's package, run from PHP CLI (tests/wordpress/php/); Depot is
pytest-django's live server on the real services. Given a site with the vendor's plugin at
1.0.0 and 1.1.0 published, the site activates its key, core's own update check lists 1.1.0,
and core's Plugin_Upgrader installs it after checking its signature.
"""

from __future__ import annotations

import io
import time
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.licenses.models import Activation, License, Product
from apps.licenses.services import license_expiry_set
from apps.updates.publishing.signing import (
    public_key_base64,
    signing_key_from_base64,
    signing_key_generate,
)
from apps.updates.services import release_publish
from tests.builders import license_make, product_make
from tests.wordpress.conftest import CLIENT, WordPressSite, depot_public_key, plugin_main_file

pytestmark = [pytest.mark.wordpress, pytest.mark.real_services]

SLUG = "formwell"
PLUGIN = f"{SLUG}/{SLUG}.php"


def _product() -> Product:
    return product_make(SLUG, "Formwell", homepage="https://formwell.example.com/")


def _publish(product: Product, version: str, updates_url: str) -> None:
    """Publish the vendor's own build of `version`: the same plugin, shipping the client."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        main = plugin_main_file(slug=SLUG, version=version, updates_url=updates_url)
        archive.writestr(f"{SLUG}/{SLUG}.php", main)
        archive.writestr(f"{SLUG}/includes/depot-updates-client.php", CLIENT.read_bytes())
    release_publish(
        product=product,
        version=version,
        zip_content=buffer.getvalue(),
        requires_wp="5.8",
        tested_up_to="6.1",
        requires_php="7.4",
        upgrade_notice=f"{version} is a safe update.",
    )


def _site_with_plugin(wp: WordPressSite) -> tuple[Product, str]:
    """Given the plugin at 1.0.0 on the site, 1.0.0 and 1.1.0 in Depot, and a fresh key."""
    product = _product()
    _publish(product, "1.0.0", wp.updates_url)
    _publish(product, "1.1.0", wp.updates_url)
    assert wp.plugin_write(SLUG, "1.0.0") == PLUGIN
    active = wp.run("activate_plugin.php", PLUGIN)
    assert active["error"] is None and active["active"] is True, active
    assert active["headers"]["UpdateURI"] == f"{wp.updates_url}/{SLUG}"
    return product, license_make(product, sites=1).key


def test_the_site_activates_sees_and_installs_the_signed_update(wordpress_site):
    wp = wordpress_site
    started = time.monotonic()
    _product, key = _site_with_plugin(wp)

    activated = wp.run("license_activate.php", SLUG, key)

    assert activated["status"] == 200, activated
    assert activated["body"]["license"]["site_count"] == 1
    assert list(Activation.objects.values_list("site", flat=True)) == ["native-client.example.com"]

    check = wp.run("update_check.php")

    assert check["installed"][PLUGIN] == "1.0.0"
    item = check["response"][PLUGIN]
    assert item["new_version"] == "1.1.0"
    assert item["id"] == f"{wp.updates_url}/{SLUG}"  # core keeps the Update URI as the id
    assert item["package"].startswith(f"{wp.updates_url}/updates/download/")
    assert item["package"].endswith(f"/{SLUG}-1.1.0.zip")

    # The vendor's public key, from `manage.py signing_key --public` (in wp-config.php).
    signature = wp.run("signature.php", item["package"], depot_public_key())

    assert signature["sig_status"] == 200
    assert signature["verified"] is True, signature
    assert signature["download_url"] is True, signature

    upgraded = wp.run("upgrade.php", PLUGIN)

    assert upgraded["result"] is True, upgraded
    assert upgraded["error"] is None, upgraded
    assert upgraded["version"] == "1.1.0"  # read from the plugin file on disk
    assert upgraded["active"] is True, upgraded
    assert "1.1.0" in (wp.plugins / SLUG / f"{SLUG}.php").read_text()
    print(
        f"\ndepot: activate, check, verify, update in WordPress: {time.monotonic() - started:.1f} s"
    )

    recheck = wp.run("update_check.php")

    assert recheck["installed"][PLUGIN] == "1.1.0"
    assert PLUGIN not in (recheck["response"] or {})
    assert recheck["no_update"][PLUGIN]["new_version"] == "1.1.0"


def test_a_package_signed_with_another_key_is_refused_by_core(wordpress_site):
    wp = wordpress_site
    _product, key = _site_with_plugin(wp)
    assert wp.run("license_activate.php", SLUG, key)["status"] == 200
    package = wp.run("update_check.php")["response"][PLUGIN]["package"]
    stranger = _public_key_of(signing_key_generate())

    signature = wp.run("signature.php", package, stranger)

    assert signature["verified"]["code"] == "signature_verification_failed", signature
    assert signature["download_url"]["code"] == "signature_verification_failed", signature

    upgraded = wp.run("upgrade.php", PLUGIN, stranger)

    assert upgraded["result"] is not True, upgraded
    assert upgraded["messages"][-1] == (
        "Download failed. The authenticity of formwell-1.1.0.zip could not be verified."
    )
    assert upgraded["version"] == "1.0.0"
    assert "1.0.0" in (wp.plugins / SLUG / f"{SLUG}.php").read_text()


def test_an_expired_license_keeps_the_site_on_its_version_and_says_why(wordpress_site):
    wp = wordpress_site
    _product, key = _site_with_plugin(wp)
    assert wp.run("license_activate.php", SLUG, key)["status"] == 200
    license_expiry_set(license_id=_license_id(), expires_at=timezone.now() - timedelta(days=1))

    check = wp.run("update_check.php")

    item = check["response"][PLUGIN]
    assert item["new_version"] == "1.1.0"  # the update is shown...
    assert item["package"] == ""  # ...without a package
    notice = item["upgrade_notice"]  # what wp-admin shows under the update
    assert notice.startswith("This license expired on "), item
    assert notice.endswith("Renew it at https://shop.example.com/account/ to get updates.")

    upgraded = wp.run("upgrade.php", PLUGIN)

    assert upgraded["result"] is not True, upgraded
    assert upgraded["messages"] == ["Update package not available."]
    assert upgraded["version"] == "1.0.0"
    assert "1.0.0" in (wp.plugins / SLUG / f"{SLUG}.php").read_text()


def _license_id() -> int:
    return License.objects.get(product__slug=SLUG).pk


def _public_key_of(seed: str) -> str:
    return public_key_base64(signing_key_from_base64(seed))
