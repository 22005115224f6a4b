"""Fixtures for the update API: a product with releases on the storage backend, licenses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.licenses.models import License, Product
from apps.licenses.services import license_activate, license_create, product_upsert
from apps.updates.models import Release
from apps.updates.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.services import release_publish

WP_UA = "WordPress/6.7.1; https://shop.example.com/"
SITE = "https://shop.example.com/"


@dataclass
class Issued:
    license: License
    key: str


@pytest.fixture
def product(db: None) -> Product:
    return product_upsert(
        slug="formwell",
        name="Formwell",
        description="<p>Forms that work.</p>",
        homepage="https://formwell.example.com/",
        author="Formwell Ltd",
        author_homepage="https://formwell.example.com/about/",
        banner_low="https://cdn.example.com/formwell-772x250.png",
        banner_high="https://cdn.example.com/formwell-1544x500.png",
        icon_1x="https://cdn.example.com/formwell-128.png",
        icon_2x="https://cdn.example.com/formwell-256.png",
        icon_svg="https://cdn.example.com/formwell.svg",
    )


@pytest.fixture
def publish(product: Product) -> Callable[..., Release]:
    def make(version: str, **fields: Any) -> Release:
        spec = PluginSpec(slug=product.slug, name=product.name, version=version, description="x")
        fields.setdefault("requires_wp", "6.0")
        fields.setdefault("requires_php", "7.4")
        fields.setdefault("tested_up_to", "6.7")
        fields.setdefault("changelog", f"<h4>{version}</h4><ul><li>Fixes.</li></ul>")
        fields.setdefault("upgrade_notice", f"{version} is a safe update.")
        fields.setdefault("description", "<p>Forms that work.</p>")
        fields.setdefault("installation", "<p>Upload and activate.</p>")
        return release_publish(
            product=product, version=version, zip_content=plugin_zip_build(spec), **fields
        )

    return make


@pytest.fixture
def release(publish: Callable[..., Release]) -> Release:
    return publish("2.4.1")


@pytest.fixture
def issue(product: Product) -> Callable[..., Issued]:
    def make(*, sites: int = 3, days: int | None = 365, activate: str | None = SITE) -> Issued:
        license, key = license_create(
            product=product,
            email="buyer@example.com",
            activation_limit=sites,
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
        if activate:
            license_activate(license_id=license.pk, site_url=activate)
        return Issued(license, key)

    return make


@pytest.fixture
def issued(issue: Callable[..., Issued]) -> Issued:
    return issue()
