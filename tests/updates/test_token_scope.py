"""A publish token's scope is explicit: every product or those chosen; deleting one never widens."""

from __future__ import annotations

import importlib
import io

import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from apps.licenses.models import Product
from apps.licenses.services import product_upsert
from apps.updates.models import PublishToken, Release
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.services import publish_token_create

pytestmark = pytest.mark.django_db

URL = "/vendor/api/v1/releases"


def _zip(slug: str = "formwell") -> SimpleUploadedFile:
    spec = PluginSpec(slug=slug, name="Formwell", version="2.5.0", description="Forms.")
    return SimpleUploadedFile(f"{slug}-2.5.0.zip", plugin_zip_build(spec), "application/zip")


def _stored(slug: str) -> set[str]:
    try:
        return set(default_storage.listdir(f"releases/{slug}")[1])
    except FileNotFoundError:  # the local filesystem before the first upload
        return set()


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("publish_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("named", [True, False], ids=["product-named", "product-from-zip"])
def test_a_token_whose_only_product_was_deleted_publishes_nothing(
    admin_client, product, named
) -> None:
    # Given: a token for formwell-pro, which is then deleted in the admin
    pro = product_upsert(slug="formwell-pro", name="Formwell Pro", description="More forms.")
    _, secret = publish_token_create(name="Pro pipeline", products=[pro])
    deleted = admin_client.post(f"/admin/licenses/product/{pro.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302 and not Product.objects.filter(slug="formwell-pro").exists()
    before = _stored("formwell")
    data = {"zip": _zip(), **({"product": "formwell"} if named else {})}

    # When: it uploads a zip for another product
    response = Client(enforce_csrf_checks=True).post(
        URL, data, HTTP_AUTHORIZATION=f"Bearer {secret}"
    )

    # Then
    assert response.status_code == 403
    assert response.json() == {
        "code": "product_not_allowed",
        "message": "The token 'Pro pipeline' may not publish any product: the products it was "
        "given no longer exist. Ask an admin to choose its products, or for a new token.",
    }
    assert not Release.objects.exists()
    assert _stored("formwell") == before


def test_a_token_for_all_products_publishes_a_product_added_later() -> None:
    # Given
    _, secret = publish_token_create(name="Release script", all_products=True)
    product_upsert(slug="formwell", name="Formwell", description="Forms.")

    # When
    response = Client().post(URL, {"zip": _zip()}, HTTP_AUTHORIZATION=f"Bearer {secret}")

    # Then
    assert response.status_code == 201
    assert Release.objects.get().product.slug == "formwell"


def test_publish_token_without_a_scope_asks_for_one_and_creates_nothing() -> None:
    # When
    with pytest.raises(CommandError) as caught:
        _run("--name", "CI")

    # Then
    assert "--product SLUG" in str(caught.value) and "--all-products" in str(caught.value)
    assert not PublishToken.objects.exists()


def test_publish_token_refuses_products_and_all_products_together(product) -> None:
    # When
    with pytest.raises(CommandError) as caught:
        _run("--name", "CI", "--product", "formwell", "--all-products")

    # Then
    assert "not allowed with argument" in str(caught.value)
    assert not PublishToken.objects.exists()


def test_publish_token_for_all_products_says_so(product) -> None:
    # When
    _, err = _run("--name", "Release script", "--all-products")

    # Then
    assert "every product (--all-products, including products added later)" in err
    token = PublishToken.objects.get()
    assert token.all_products and not token.products.exists()


def test_publish_token_for_a_product_is_scoped_to_it(product) -> None:
    # When
    _, err = _run("--name", "CI", "--product", "formwell")

    # Then
    assert "for formwell." in err
    token = PublishToken.objects.get()
    assert not token.all_products and list(token.products.all()) == [product]


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({}, "Choose at least one product this token may publish, or tick &#x27;All products"),
        (
            {"all_products": "on", "products": "PRODUCT"},
            "Either tick &#x27;All products&#x27; or choose products, not both",
        ),
    ],
)
def test_the_token_admin_asks_for_every_product_or_some(
    admin_client, product, scope, message
) -> None:
    # Given
    form = {"name": "CI"}
    form.update({k: str(product.pk) if v == "PRODUCT" else v for k, v in scope.items()})

    # When
    response = admin_client.post("/admin/updates/publishtoken/add/", form)

    # Then
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PublishToken.objects.exists()


def test_the_token_admin_cannot_empty_a_tokens_scope(admin_client, product) -> None:
    # Given
    token, _ = publish_token_create(name="CI", products=[product])

    # When
    response = admin_client.post(
        f"/admin/updates/publishtoken/{token.pk}/change/", {"name": "CI", "is_active": "on"}
    )

    # Then
    assert response.status_code == 200
    assert "Choose at least one product" in response.content.decode()
    assert list(PublishToken.objects.get().products.all()) == [product]


def test_the_migration_keeps_each_existing_tokens_scope(product) -> None:
    # Given: tokens as they were before the flag, which the new column starts as False
    everything, _ = publish_token_create(name="Any", all_products=True)
    scoped, _ = publish_token_create(name="Formwell", products=[product])
    PublishToken.objects.update(all_products=False)
    migration = importlib.import_module("apps.updates.migrations.0003_publishtoken_all_products")

    # When
    migration.tokens_keep_their_scope(apps, None)

    # Then
    everything.refresh_from_db()
    scoped.refresh_from_db()
    assert everything.all_products is True
    assert scoped.all_products is False and list(scoped.products.all()) == [product]
