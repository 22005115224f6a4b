"""`manage.py product` and publish_release's product options: a vendor scripts the switch."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.licenses.models import Activation, Product
from apps.licenses.services import product_upsert
from apps.updates.models import Release
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from tests.builders import license_make

pytestmark = pytest.mark.django_db

NEW_SITE_UA = "WordPress/6.7.1; https://new-customer.example.com/"


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _zip(tmp_path: Path, slug: str = "formwell", version: str = "2.5.0") -> Path:
    spec = PluginSpec(slug=slug, name="Formwell", version=version, description="Forms.")
    path = tmp_path / f"{slug}-{version}.zip"
    path.write_bytes(plugin_zip_build(spec))
    return path


def _row(slug: str = "formwell") -> tuple[int | None, str]:
    return Product.objects.values_list("edd_item_id", "activation").get(slug=slug)


@pytest.fixture
def formwell(tmp_path: Path) -> Product:
    _run("publish_release", str(_zip(tmp_path, version="2.4.1")))
    return Product.objects.get(slug="formwell")


def test_the_product_command_sets_the_policy_and_the_next_check_obeys_it(
    client, formwell, django_capture_on_commit_callbacks
):
    # Given a product whose update metadata is warm in the cache
    license, key = license_make(formwell, email="b@example.com", days=None)
    client.get("/updates/puc/formwell/", {"license_key": "warm"}, HTTP_USER_AGENT=NEW_SITE_UA)

    # When the vendor switches it to explicit activation
    with django_capture_on_commit_callbacks(execute=True):
        out = _run("product", "formwell", "--activation", "explicit")

    # Then the command says so, and a PUC check from a new site no longer activates
    assert out == "formwell: edd_item_id=none activation=explicit\n"
    doc = client.get(
        "/updates/puc/formwell/", {"license_key": key}, HTTP_USER_AGENT=NEW_SITE_UA
    ).json()
    assert "download_url" not in doc
    assert doc["upgrade_notice"] == "Activate this license to receive updates."
    assert not Activation.objects.filter(license=license).exists()


def test_the_product_command_sets_and_removes_the_edd_item_id(
    client, formwell, django_capture_on_commit_callbacks
):
    # When the vendor gives the product its EDD download id
    with django_capture_on_commit_callbacks(execute=True):
        out = _run("product", "formwell", "--edd-item-id", "4242")

    # Then EDD clients that send that item_id find it
    assert out == "formwell: edd_item_id=4242 activation=on_check\n"
    body = client.post(
        "/updates/edd/", {"edd_action": "get_version", "item_id": "4242", "version": "1.0"}
    ).json()
    assert body["new_version"] == "2.4.1"

    # And 0 removes it again
    with django_capture_on_commit_callbacks(execute=True):
        _run("product", "formwell", "--edd-item-id", "0")
    assert _row() == (None, "on_check")


def test_the_product_command_without_options_shows_the_settings(formwell):
    assert _run("product", "formwell") == "formwell: edd_item_id=none activation=on_check\n"


def test_an_unknown_product_is_refused_with_the_known_ones(formwell):
    with pytest.raises(
        CommandError, match=r"No product has the slug 'nope'\. Known products: formwell"
    ):
        _run("product", "nope", "--activation", "explicit")


def test_an_edd_item_id_another_product_has_is_refused_and_nothing_changes(formwell):
    product_upsert(slug="searchlight", name="Searchlight SEO", edd_item_id="77")

    with pytest.raises(CommandError, match=r"EDD item id 77 already belongs to Searchlight SEO"):
        _run("product", "formwell", "--edd-item-id", "77", "--activation", "explicit")

    assert _row() == (None, "on_check")


def test_a_bad_policy_is_refused_by_the_parser(formwell):
    with pytest.raises(CommandError, match="invalid choice"):
        _run("product", "formwell", "--activation", "sometimes")


def test_publish_release_sets_the_product_it_creates(tmp_path):
    out = _run(
        "publish_release", str(_zip(tmp_path)), "--edd-item-id", "31", "--activation", "explicit"
    )

    assert "Published formwell 2.5.0" in out
    assert "formwell: edd_item_id=31 activation=explicit" in out
    assert _row() == (31, "explicit")


def test_publish_release_with_a_refused_setting_publishes_nothing(tmp_path, formwell):
    product_upsert(slug="searchlight", name="Searchlight SEO", edd_item_id="77")

    with pytest.raises(CommandError, match="already belongs to Searchlight SEO"):
        _run(
            "publish_release",
            str(_zip(tmp_path, version="2.6.0")),
            "--product",
            "formwell",
            "--edd-item-id",
            "77",
        )

    assert list(Release.objects.values_list("version", flat=True)) == ["2.4.1"]
    assert _row() == (None, "on_check")
