"""POST /vendor/api/v1/releases: a build pipeline publishes a zip with a publish token."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from apps.licenses.models import Product
from apps.licenses.services import product_upsert
from apps.updates.models import PublishToken, Release
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.services import publish_token_create

pytestmark = pytest.mark.django_db

URL = "/vendor/api/v1/releases"


def _zip(version: str = "2.5.0", slug: str = "formwell") -> SimpleUploadedFile:
    spec = PluginSpec(slug=slug, name="Formwell", version=version, description="Forms.")
    return SimpleUploadedFile(f"{slug}-{version}.zip", plugin_zip_build(spec), "application/zip")


def _stored(slug: str) -> set[str]:
    try:
        return set(default_storage.listdir(f"releases/{slug}")[1])
    except FileNotFoundError:  # the local filesystem before the first upload
        return set()


def _post(data: dict, token: str | None, **extra) -> object:
    # A pipeline has no session or CSRF cookie; the token is its only credential.
    client = Client(enforce_csrf_checks=True)
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post(URL, data, **extra)


@pytest.fixture
def secret(product: Product) -> str:
    _, secret = publish_token_create(name="GitHub Actions", products=[product])
    return secret


def test_a_pipeline_publishes_a_zip_and_gets_what_was_published(product, secret):
    # Given
    upload = _zip()
    content = upload.read()
    upload.seek(0)

    # When
    response = _post({"zip": upload}, secret)

    # Then
    assert response.status_code == 201
    assert response.json() == {
        "product": "formwell",
        "version": "2.5.0",
        "channel": "stable",
        "rollout_percent": 100,
        "sha384": hashlib.sha384(content).hexdigest(),
        "size": len(content),
    }
    release = Release.objects.get(product=product)
    assert release.is_published and release.version == "2.5.0"
    assert PublishToken.objects.get().last_used_at is not None


def test_channel_rollout_and_product_are_taken_from_the_form(product, secret):
    # When
    response = _post(
        {"zip": _zip("3.0.0-beta.1"), "channel": "beta", "rollout": "25", "product": "formwell"},
        secret,
    )

    # Then
    assert response.status_code == 201
    body = response.json()
    assert body["version"] == "3.0.0-beta.1"
    assert (body["channel"], body["rollout_percent"]) == ("beta", 25)
    release = Release.objects.get()
    assert (release.channel, release.rollout_percent) == ("beta", 25)


@pytest.mark.parametrize(
    ("authorization", "error"),
    [(None, None), ("Basic YWRtaW46YWRtaW4=", None), ("Bearer dpt_wrong", "invalid_token")],
)
def test_without_a_valid_token_nothing_is_published(product, secret, authorization, error):
    # Given
    before = _stored("formwell")
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    # When
    response = _post({"zip": _zip()}, None, **extra)

    # Then
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)
    assert not Release.objects.exists()
    assert _stored("formwell") == before
    assert PublishToken.objects.get().last_used_at is None


def test_a_disabled_token_is_refused(product, secret):
    # Given
    PublishToken.objects.update(is_active=False)

    # When
    response = _post({"zip": _zip()}, secret)

    # Then
    assert response.status_code == 401
    assert not Release.objects.exists()


@pytest.mark.parametrize("named", [True, False])
def test_a_token_cannot_publish_another_product(product, secret, named):
    # Given
    product_upsert(slug="searchlight-seo", name="Searchlight SEO")
    before = _stored("searchlight-seo")
    data = {"zip": _zip(slug="searchlight-seo")}
    if named:
        data["product"] = "searchlight-seo"

    # When
    response = _post(data, secret)

    # Then
    assert response.status_code == 403
    assert response.json()["code"] == "product_not_allowed"
    assert "may publish formwell" in response.json()["message"]
    assert not Release.objects.exists()
    assert _stored("searchlight-seo") == before


def test_a_token_for_all_products_may_publish_any_product(product):
    # Given
    _, secret = publish_token_create(name="Release script", all_products=True)

    # When
    response = _post({"zip": _zip()}, secret)

    # Then
    assert response.status_code == 201
    assert Release.objects.get().product == product


def test_an_existing_version_is_a_conflict(publish, secret):
    # Given
    publish("2.5.0")
    before = _stored("formwell")

    # When
    response = _post({"zip": _zip("2.5.0")}, secret)

    # Then
    assert response.status_code == 409
    assert response.json() == {
        "code": "release_exists",
        "message": "formwell 2.5.0 already exists.",
    }
    assert Release.objects.count() == 1
    assert _stored("formwell") == before


def test_a_zip_for_another_folder_than_the_named_product_is_a_bad_request(product, secret):
    # Given
    before = _stored("formwell-pro")

    # When
    response = _post({"zip": _zip(slug="formwell-pro"), "product": "formwell"}, secret)

    # Then
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "slug_mismatch"
    assert "Rename the folder" in body["message"]
    assert not Release.objects.exists()
    assert _stored("formwell-pro") == before


def test_an_unreadable_zip_is_a_bad_request(product, secret):
    # When
    response = _post({"zip": SimpleUploadedFile("formwell.zip", b"not a zip")}, secret)

    # Then
    assert response.status_code == 400
    assert response.json()["code"] == "not_a_zip"
    assert not Release.objects.exists()


def test_a_zip_for_an_unknown_product_creates_nothing(secret):
    # Given
    _, any_product = publish_token_create(name="Release script", all_products=True)

    # When
    response = _post({"zip": _zip(slug="brand-new")}, any_product)

    # Then
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_product"
    assert not Product.objects.filter(slug="brand-new").exists()
    assert not Release.objects.exists()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({}, "missing_zip"),
        ({"channel": "nightly"}, "invalid_channel"),
        ({"rollout": "0"}, "invalid_rollout"),
        ({"rollout": "half"}, "invalid_rollout"),
    ],
)
def test_bad_form_fields_are_bad_requests(product, secret, data, code):
    # Given
    if code != "missing_zip":
        data = {**data, "zip": _zip()}

    # When
    response = _post(data, secret)

    # Then
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert not Release.objects.exists()


def test_an_upload_over_the_limit_is_refused_before_it_is_read(product, secret):
    # When: the declared body is larger than any plugin zip may be
    response = _post({"zip": _zip()}, secret, CONTENT_LENGTH=str(200 * 1024 * 1024))

    # Then
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not Release.objects.exists()


def test_only_post_is_allowed(secret):
    # When
    response = Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}")

    # Then
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"


@override_settings(ROOT_URLCONF="config.urls_updates")
def test_the_updates_deployment_does_not_serve_the_vendor_api(product, secret):
    # When
    response = _post({"zip": _zip()}, secret)

    # Then
    assert response.status_code == 404
    assert not Release.objects.exists()
