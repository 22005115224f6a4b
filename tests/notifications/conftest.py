"""Fixtures for e-mail tests: a plugin on sale with a stable release on the storage backend."""

from __future__ import annotations

import pytest

from apps.updates.models import Release
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.services import release_publish_zip
from tests.builders import Shop, shop_create


@pytest.fixture
def shop(transactional_db: None) -> Shop:
    return shop_create()


@pytest.fixture
def release(shop: Shop) -> Release:
    spec = PluginSpec(
        slug=shop.product.slug, name=shop.product.name, version="2.4.1", description="Forms."
    )
    return release_publish_zip(zip_content=plugin_zip_build(spec), product=shop.product)
