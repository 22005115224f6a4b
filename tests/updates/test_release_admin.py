"""The admin publishes releases from an uploaded zip and creates publish tokens shown once."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.licenses.models import Product
from apps.updates.models import PublishToken, Release
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/updates/release/add/"
TOKEN_RE = re.compile(r"it is not shown again: (dpt_[A-Za-z0-9_-]{40,})")


def _zip(version: str = "2.5.0", slug: str = "formwell", **fields: str) -> SimpleUploadedFile:
    spec = PluginSpec(slug=slug, name="Formwell", version=version, description="Forms.", **fields)
    return SimpleUploadedFile(f"{slug}.zip", plugin_zip_build(spec), "application/zip")


def _stored(slug: str) -> set[str]:
    try:
        return set(default_storage.listdir(f"releases/{slug}")[1])
    except FileNotFoundError:  # the local filesystem before the first upload
        return set()


def _zip_errors(response) -> list[str]:
    return response.context["adminform"].form.errors.get("zip", [])


def test_the_add_form_asks_for_a_zip_product_channel_and_rollout(admin_client):
    # When
    response = admin_client.get(ADD_URL)

    # Then
    assert response.status_code == 200
    fields = set(response.context["adminform"].form.fields)
    assert fields == {"zip", "product", "channel", "rollout_percent"}
    assert 'enctype="multipart/form-data"' in response.content.decode()


def test_uploading_a_zip_publishes_the_release_it_describes(admin_client, product):
    # Given
    upload = _zip(changelog="= 2.5.0 =\n* New: steps.", requires_php="8.1")
    content = upload.read()
    upload.seek(0)

    # When
    response = admin_client.post(
        ADD_URL,
        {"zip": upload, "product": product.pk, "channel": "beta", "rollout_percent": "25"},
    )

    # Then
    assert response.status_code == 302
    release = Release.objects.get(product=product)
    assert (release.version, release.channel, release.rollout_percent) == ("2.5.0", "beta", 25)
    assert release.is_published and release.published_at is not None
    requirements = (release.requires_wp, release.requires_php, release.tested_up_to)
    assert requirements == ("6.0", "8.1", "6.7")
    assert release.changelog == "<h4>2.5.0</h4>\n<ul><li>New: steps.</li></ul>"
    assert release.sha384 == hashlib.sha384(content).hexdigest()
    assert release.size == len(content)
    with release.zip_file.open("rb") as stored:
        assert stored.read() == content


def test_without_a_product_the_zips_folder_names_it(admin_client, product):
    # When
    response = admin_client.post(
        ADD_URL, {"zip": _zip(), "product": "", "channel": "stable", "rollout_percent": "100"}
    )

    # Then
    assert response.status_code == 302
    assert Release.objects.get().product == product


def test_a_zip_for_another_product_is_an_error_on_the_zip_field_and_nothing_is_stored(
    admin_client, product
):
    # Given
    before = _stored("formwell-pro")

    # When
    response = admin_client.post(
        ADD_URL,
        {
            "zip": _zip(slug="formwell-pro"),
            "product": product.pk,
            "channel": "stable",
            "rollout_percent": "100",
        },
    )

    # Then
    assert response.status_code == 200
    assert _zip_errors(response) == [
        "The zip's folder is 'formwell-pro' but this product's slug is 'formwell'. "
        "Rename the folder and zip it again."
    ]
    assert not Release.objects.exists()
    assert _stored("formwell-pro") == before


def test_an_existing_version_is_an_error_on_the_zip_field_and_nothing_new_is_stored(
    admin_client, product, publish
):
    # Given
    publish("2.5.0")
    before = _stored("formwell")

    # When
    response = admin_client.post(
        ADD_URL,
        {
            "zip": _zip("2.5.0"),
            "product": product.pk,
            "channel": "stable",
            "rollout_percent": "100",
        },
    )

    # Then
    assert response.status_code == 200
    assert _zip_errors(response) == ["formwell 2.5.0 already exists."]
    assert Release.objects.count() == 1
    assert _stored("formwell") == before


def test_a_folder_no_product_has_is_refused_without_creating_a_product(admin_client):
    # Given
    before = _stored("formwell")

    # When
    response = admin_client.post(
        ADD_URL, {"zip": _zip(), "product": "", "channel": "stable", "rollout_percent": "100"}
    )

    # Then
    assert response.status_code == 200
    assert "No product has the slug 'formwell'" in _zip_errors(response)[0]
    assert not Product.objects.exists()
    assert not Release.objects.exists()
    assert _stored("formwell") == before


def test_a_file_that_is_not_a_zip_is_an_error_on_the_zip_field(admin_client, product):
    # When
    response = admin_client.post(
        ADD_URL,
        {
            "zip": SimpleUploadedFile("formwell.zip", b"not a zip"),
            "product": product.pk,
            "channel": "stable",
            "rollout_percent": "100",
        },
    )

    # Then
    assert response.status_code == 200
    assert "not a readable zip archive" in _zip_errors(response)[0]
    assert not Release.objects.exists()


def test_the_change_form_edits_only_channel_rollout_and_visibility(admin_client, release):
    # Given
    url = f"/admin/updates/release/{release.pk}/change/"

    # When: every field is posted, including ones the form must not take
    response = admin_client.post(
        url,
        {
            "channel": "beta",
            "rollout_percent": "30",
            "version": "9.9.9",
            "changelog": "<script>x</script>",
            "sha384": "0" * 96,
        },
    )

    # Then
    assert response.status_code == 302
    release.refresh_from_db()
    assert (release.channel, release.rollout_percent, release.is_published) == ("beta", 30, False)
    assert release.version == "2.4.1"
    assert release.changelog == "<h4>2.4.1</h4><ul><li>Fixes.</li></ul>"
    assert release.sha384 != "0" * 96


def test_the_change_form_shows_the_digest_and_size_read_only(admin_client, release):
    # When
    response = admin_client.get(f"/admin/updates/release/{release.pk}/change/")

    # Then
    assert response.status_code == 200
    assert set(response.context["adminform"].form.fields) == {
        "channel",
        "rollout_percent",
        "is_published",
    }
    page = response.content.decode()
    assert release.sha384 in page
    assert str(release.size) in page


def test_a_new_publish_token_is_shown_once_and_only_its_hash_is_stored(admin_client, product):
    # When
    response = admin_client.post(
        "/admin/updates/publishtoken/add/",
        {"name": "GitHub Actions", "products": [product.pk]},
        follow=True,
    )

    # Then
    page = response.content.decode()
    match = TOKEN_RE.search(page)
    assert match is not None
    secret = match.group(1)
    token = PublishToken.objects.get()
    assert token.name == "GitHub Actions"
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.token_hint == secret[-4:]
    assert list(token.products.all()) == [product]
    for url in (f"/admin/updates/publishtoken/{token.pk}/change/", "/admin/updates/publishtoken/"):
        assert secret not in admin_client.get(url).content.decode()


def test_a_token_created_in_the_admin_publishes_through_the_vendor_api(admin_client, product):
    # Given
    response = admin_client.post(
        "/admin/updates/publishtoken/add/",
        {"name": "CI", "all_products": "on", "products": []},
        follow=True,
    )
    match = TOKEN_RE.search(response.content.decode())
    assert match is not None

    # When
    published = admin_client.post(
        "/vendor/api/v1/releases",
        {"zip": _zip("2.6.0")},
        HTTP_AUTHORIZATION=f"Bearer {match.group(1)}",
    )

    # Then
    assert published.status_code == 201, published.content
    assert Release.objects.get().version == "2.6.0"


def test_the_releases_page_shows_the_signing_public_key(admin_client, settings):
    from apps.updates.publishing.signing import public_key_base64, signing_key_from_base64

    expected = public_key_base64(signing_key_from_base64(settings.DEPOT_SIGNING_KEY))

    page = admin_client.get("/admin/updates/release/")

    assert page.status_code == 200
    assert f'<code id="signing-public-key" style="user-select: all;">{expected}</code>' in (
        page.content.decode()
    )


def test_without_a_signing_key_the_releases_page_says_packages_are_unsigned(admin_client, settings):
    settings.DEPOT_SIGNING_KEY = ""

    page = admin_client.get("/admin/updates/release/")

    assert "Packages are not signed" in page.content.decode()
