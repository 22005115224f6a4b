"""`manage.py publish_release` and `manage.py publish_token`."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.licenses.models import Product
from apps.updates.models import PublishToken, Release
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _zip_file(tmp_path: Path, version: str = "2.5.0", slug: str = "formwell", **fields) -> Path:
    spec = PluginSpec(
        slug=slug,
        name="Formwell",
        version=version,
        description="Drag-and-drop forms.",
        author="Formwell Ltd",
        author_uri="https://formwell.example.com/about/",
        plugin_uri="https://formwell.example.com/",
        **fields,
    )
    path = tmp_path / f"{slug}-{version}.zip"
    path.write_bytes(plugin_zip_build(spec))
    return path


def _stored(slug: str) -> set[str]:
    try:
        return set(default_storage.listdir(f"releases/{slug}")[1])
    except FileNotFoundError:  # the local filesystem before the first upload
        return set()


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_publish_release_creates_the_product_from_the_plugin_header(tmp_path):
    # Given
    path = _zip_file(tmp_path)

    # When
    out, _ = _run("publish_release", str(path))

    # Then
    assert out.strip() == "Published formwell 2.5.0 (stable, 100% rollout)"
    product = Product.objects.get(slug="formwell")
    assert (product.name, product.description, product.author) == (
        "Formwell",
        "Drag-and-drop forms.",
        "Formwell Ltd",
    )
    assert product.homepage == "https://formwell.example.com/"
    assert product.author_homepage == "https://formwell.example.com/about/"
    release = Release.objects.get(product=product)
    assert release.version == "2.5.0" and release.is_published
    assert release.sha384 == hashlib.sha384(path.read_bytes()).hexdigest()


def test_publish_release_to_beta_with_a_staged_rollout(tmp_path, product):
    # When
    out, _ = _run(
        "publish_release", str(_zip_file(tmp_path)), "--channel", "beta", "--rollout", "25"
    )

    # Then
    assert out.strip() == "Published formwell 2.5.0 (beta, 25% rollout)"
    release = Release.objects.get(product=product)
    assert (release.channel, release.rollout_percent) == ("beta", 25)


def test_publish_release_for_an_existing_product_keeps_its_details(tmp_path, product):
    # When
    _run("publish_release", str(_zip_file(tmp_path)), "--product", "formwell")

    # Then
    product.refresh_from_db()
    assert product.description == "<p>Forms that work.</p>"
    assert Release.objects.get().product == product


def test_publish_release_with_a_zip_for_another_product_says_to_rename_the_folder(
    tmp_path, product
):
    # Given
    path = _zip_file(tmp_path, slug="formwell-pro")
    before = _stored("formwell-pro")

    # When
    with pytest.raises(CommandError) as caught:
        _run("publish_release", str(path), "--product", "formwell")

    # Then
    assert str(caught.value) == (
        "The zip's folder is 'formwell-pro' but this product's slug is 'formwell'. "
        "Rename the folder and zip it again."
    )
    assert not Release.objects.exists()
    assert not Product.objects.filter(slug="formwell-pro").exists()
    assert _stored("formwell-pro") == before


def test_publish_release_of_an_existing_version_is_refused_and_nothing_new_is_stored(
    tmp_path, publish
):
    # Given
    publish("2.5.0")
    before = _stored("formwell")

    # When
    with pytest.raises(CommandError, match=r"formwell 2\.5\.0 already exists\."):
        _run("publish_release", str(_zip_file(tmp_path)))

    # Then
    assert Release.objects.count() == 1
    assert _stored("formwell") == before


def test_publish_release_with_an_unknown_product_names_the_known_ones(tmp_path, product):
    # When
    with pytest.raises(CommandError) as caught:
        _run("publish_release", str(_zip_file(tmp_path)), "--product", "formwel")

    # Then
    assert "'formwel'" in str(caught.value)
    assert "Known products: formwell." in str(caught.value)
    assert not Release.objects.exists()


def test_publish_release_of_a_broken_zip_creates_nothing(tmp_path):
    # Given
    path = tmp_path / "formwell.zip"
    path.write_bytes(b"PK\x03\x04 truncated")

    # When
    with pytest.raises(CommandError, match="not a readable zip archive"):
        _run("publish_release", str(path))

    # Then
    assert not Product.objects.exists()
    assert not Release.objects.exists()


def test_publish_release_with_an_impossible_rollout_is_refused(tmp_path):
    # When
    with pytest.raises(CommandError, match="from 1 to 100"):
        _run("publish_release", str(_zip_file(tmp_path)), "--rollout", "0")

    # Then
    assert not Product.objects.exists()
    assert not Release.objects.exists()


def test_publish_release_from_the_command_line_exits_non_zero_with_the_reason(tmp_path):
    # Given a shell running manage.py (it fails before touching the database)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}

    # When
    result = subprocess.run(
        [sys.executable, "manage.py", "publish_release", str(tmp_path / "missing.zip")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then
    assert result.returncode == 1
    assert "missing.zip is not a file" in result.stderr
    assert result.stdout == ""


def test_publish_token_prints_a_token_that_only_its_hash_remembers(product):
    # When
    out, err = _run("publish_token", "--name", "GitHub Actions", "--product", "formwell")

    # Then
    secret = out.strip()
    assert secret.startswith("dpt_") and len(secret) > 40
    assert "not shown again" in err
    token = PublishToken.objects.get()
    assert token.name == "GitHub Actions"
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.token_hint == secret[-4:]
    assert list(token.products.all()) == [product]


def test_publish_token_with_all_products_may_publish_every_product():
    # When
    out, err = _run("publish_token", "--name", "Release script", "--all-products")

    # Then
    assert "every product" in err
    token = PublishToken.objects.get()
    assert token.token_hash == hashlib.sha256(out.strip().encode()).hexdigest()
    assert token.all_products and not token.products.exists()


def test_publish_token_for_an_unknown_product_names_the_known_ones(product):
    # When
    with pytest.raises(CommandError) as caught:
        _run("publish_token", "--name", "CI", "--product", "formwell", "--product", "nope")

    # Then
    assert "'nope'" in str(caught.value)
    assert "Known products: formwell." in str(caught.value)
    assert not PublishToken.objects.exists()
