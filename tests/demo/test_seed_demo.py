"""`manage.py seed_demo`: a demo catalogue, releases, a licensed customer and an admin."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from apps.core.errors import Conflict
from apps.licenses.models import License, Product
from apps.licenses.selectors import license_by_key
from apps.store.models import Order, PriceTier
from apps.updates.models import Release

pytestmark = pytest.mark.django_db

# WordPress reads plugin headers from the first 8 KiB only (get_file_data()).
WP_HEADER_BYTES = 8 * 1024


def _seed(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("seed_demo", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def _wp_header(php: str, name: str) -> str | None:
    """Read header `name` as WordPress's get_file_data() does, or None when absent."""
    head = php[:WP_HEADER_BYTES].replace("\r", "\n")
    pattern = r"^(?:[ \t]*<\?php)?[ \t/*#@]*" + re.escape(name) + r":(.*)$"
    match = re.search(pattern, head, re.MULTILINE | re.IGNORECASE)
    if not match or not match.group(1):
        return None
    return re.sub(r"\s*(?:\*/|\?>).*", "", match.group(1)).strip()


def _readme_field(readme: str, name: str) -> str | None:
    match = re.search(rf"^{re.escape(name)}:\s*(.+?)\s*$", readme, re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else None


def _admin_login(username: str, password: str) -> int:
    """Log in through the admin's login form with a fresh browser; return GET /admin/'s status."""
    browser = Client()
    browser.post("/admin/login/", {"username": username, "password": password})
    return browser.get("/admin/").status_code


def _counts() -> dict[str, int]:
    return {
        "products": Product.objects.count(),
        "tiers": PriceTier.objects.count(),
        "releases": Release.objects.count(),
        "orders": Order.objects.count(),
        "licenses": License.objects.count(),
        "users": get_user_model().objects.count(),
    }


def test_seed_demo_creates_two_products_with_three_active_tiers_on_the_catalogue(client):
    # When
    summary = _seed()

    # Then
    slugs = summary["products"]
    assert len(slugs) == 2
    page = client.get("/").content.decode()
    for slug in slugs:
        product = Product.objects.get(slug=slug)
        assert product.is_active
        assert f'id="product-{slug}"' in page
        assert product.name in page
        tiers = PriceTier.objects.filter(product=product, is_active=True)
        assert tiers.count() == 3
        for tier in tiers:
            assert tier.name in page


def test_seed_demo_publishes_a_wordpress_plugin_zip_for_each_product():
    # When
    summary = _seed()

    # Then
    assert set(summary["releases"]) == set(summary["products"])
    for slug, version in summary["releases"].items():
        release = Release.objects.get(product__slug=slug, version=version)
        assert release.is_published and release.published_at is not None
        with release.zip_file.open("rb") as stored:
            archive = zipfile.ZipFile(io.BytesIO(stored.read()))
        names = set(archive.namelist())
        assert {f"{slug}/{slug}.php", f"{slug}/readme.txt"} <= names
        assert all(name.startswith(f"{slug}/") for name in names)

        php = archive.read(f"{slug}/{slug}.php").decode()
        assert php.startswith("<?php")
        assert _wp_header(php, "Plugin Name") == release.product.name
        assert _wp_header(php, "Version") == version

        readme = archive.read(f"{slug}/readme.txt").decode()
        assert readme.startswith(f"=== {release.product.name} ===")
        assert _readme_field(readme, "Stable tag") == version


def test_seed_demo_prints_a_license_key_that_resolves_to_the_demo_license():
    # When
    summary = _seed()

    # Then
    license = license_by_key(key=summary["license"]["key"])
    assert license is not None
    assert license.product.slug == summary["license"]["product"]
    assert license.activation_limit == summary["license"]["sites"]
    assert license.email == summary["customer"]["email"]
    assert license.status == License.Status.ACTIVE


def test_seed_demo_prints_admin_credentials_that_log_in():
    # When
    summary = _seed()

    # Then
    admin = summary["admin"]
    assert _admin_login(admin["username"], admin["password"]) == 200
    assert _admin_login(admin["username"], admin["password"] + "-wrong") == 302


def test_seed_demo_run_twice_keeps_the_rows_and_the_license_key():
    # Given
    first = _seed()
    counts = _counts()

    # When
    second = _seed()

    # Then
    assert _counts() == counts
    assert second["license"]["key"] == first["license"]["key"]
    assert second["releases"] == first["releases"]
    assert second["order"] == first["order"]


def test_seed_demo_run_twice_replaces_the_admin_password():
    # Given
    first = _seed()["admin"]

    # When
    second = _seed()["admin"]

    # Then
    assert second["password"] != first["password"]
    assert _admin_login(second["username"], second["password"]) == 200
    assert _admin_login(first["username"], first["password"]) == 302


def test_seed_demo_prints_where_to_go_and_an_update_check_that_works():
    # Given
    base_url = "https://depot.example.test"
    out = io.StringIO()

    # When
    call_command("seed_demo", "--base-url", f"{base_url}/", stdout=out)

    # Then
    text = out.getvalue()
    assert f"{base_url}/" in text
    assert f"{base_url}/admin/" in text
    assert re.search(rf"^\s*curl -s {re.escape(base_url)}/readyz$", text, re.MULTILINE)
    # The printed update check works as printed: same User-Agent, same URL.
    puc = re.search(r"curl -s -A '([^']+)' '([^']+/updates/puc/[^']+)'", text)
    assert puc is not None
    user_agent, url = puc.groups()
    doc = Client().get(url.removeprefix(base_url), HTTP_USER_AGENT=user_agent).json()
    assert doc["version"] == "2.4.1"
    assert doc["download_url"].endswith("/formwell-2.4.1.zip")
    printed = re.search(r"user (\S+), password (\S+)\)", text)
    assert printed is not None
    username, password = printed.groups()
    assert _admin_login(username, password) == 200


def test_rerunning_after_a_newer_release_keeps_that_release_as_the_latest():
    # Given the demo, then a vendor publishing a newer formwell
    _seed()
    from apps.licenses.selectors import product_by_slug
    from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
    from apps.updates.selectors import release_latest
    from apps.updates.services import release_publish

    product = product_by_slug(slug="formwell")
    assert product is not None
    spec = PluginSpec(slug="formwell", name="Formwell", version="9.0.0", description="Newer")
    release_publish(product=product, version="9.0.0", zip_content=plugin_zip_build(spec))

    # When the demo is seeded again
    summary = _seed()

    # Then nothing is published twice and the newer release stays the latest
    assert summary["releases"]["formwell"] != "9.0.0"
    assert Release.objects.filter(product=product).count() == 2
    latest = release_latest(product=product)
    assert latest is not None and latest.version == "9.0.0"


def test_publishing_an_existing_version_is_refused_before_anything_is_uploaded():
    summary = _seed()
    from apps.licenses.selectors import product_by_slug
    from apps.updates.services import release_publish

    product = product_by_slug(slug="formwell")
    assert product is not None
    from django.core.files.storage import default_storage

    files_before = default_storage.listdir("releases/formwell")[1]

    with pytest.raises(Conflict, match="already exists"):
        release_publish(
            product=product, version=summary["releases"]["formwell"], zip_content=b"PK-other"
        )

    assert Release.objects.filter(product=product).count() == 1
    assert default_storage.listdir("releases/formwell")[1] == files_before
