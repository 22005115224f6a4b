"""Storage outages and missing packages: checks keep answering, downloads and uploads say why.

S3 is a moto server of each test's own (tests/services_s3.py), killed mid-test; the
filesystem cases use a directory of the test's own. Never a 500.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from apps.core.models import OutboxEvent
from apps.licenses.models import Product
from apps.updates.models import Release
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.services import publish_token_create
from tests import services_s3
from tests.builders import SITE, WP_UA, Issued
from tests.services_s3 import PrivateS3

pytestmark = pytest.mark.django_db

T = TypeVar("T")
ADMIN_ADD_URL = "/admin/updates/release/add/"
VENDOR_URL = "/vendor/api/v1/releases"

private_s3 = services_s3.private_s3  # the fixture, used by name


class TruncatingStorage(FileSystemStorage):
    """A disk that reports a write as done but keeps only half of it (full disk, bad mount)."""

    def _save(self, name, content):
        data = content.read()
        return super()._save(name, SimpleUploadedFile(name, data[: len(data) // 2]))


def _package_url(client: Client, key: str) -> str:
    doc = client.get("/updates/puc/formwell/", {"license_key": key}, HTTP_USER_AGENT=WP_UA)
    assert doc.status_code == 200
    return doc.json()["download_url"].removeprefix("http://testserver")


def _native_check(client: Client, key: str):
    body = {
        "plugins": {"formwell/formwell.php": {"Name": "Formwell", "Version": "2.4.0"}},
        "active": ["formwell/formwell.php"],
        "wp_version": "6.7.1",
        "php_version": "8.2.10",
        "site_url": SITE,
        "licenses": {"formwell/formwell.php": key},
    }
    return client.post(
        "/updates/v1/check",
        json.dumps(body),
        content_type="application/json",
        HTTP_USER_AGENT=WP_UA,
    )


def _zip(version: str = "2.5.0") -> SimpleUploadedFile:
    spec = PluginSpec(slug="formwell", name="Formwell", version=version, description="Forms.")
    return SimpleUploadedFile(f"formwell-{version}.zip", plugin_zip_build(spec), "application/zip")


def _storages(backend: str, location: Path) -> dict[str, Any]:
    """STORAGES with `backend` in a directory of the test's own as the default."""
    default = {"BACKEND": backend, "OPTIONS": {"location": str(location)}}
    return {**settings.STORAGES, "default": default}


def _timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - started) * 1000


# S3 stopped ---------------------------------------------------------------------------------


def test_with_s3_stopped_update_checks_still_offer_the_package(
    client, private_s3: PrivateS3, release: Release, issued: Issued
):
    # Given
    private_s3.stop()

    # When
    puc = client.get("/updates/puc/formwell/", {"license_key": issued.key}, HTTP_USER_AGENT=WP_UA)
    native = _native_check(client, issued.key)

    # Then: a check never touches storage, so an outage does not hide the update
    assert puc.status_code == 200
    assert puc.json()["version"] == "2.4.1"
    assert "/updates/download/" in puc.json()["download_url"]
    assert native.status_code == 200
    assert native.json()["plugins"]["formwell/formwell.php"]["new_version"] == "2.4.1"


def test_with_s3_stopped_a_download_is_a_readable_503_with_retry_after(
    client, private_s3: PrivateS3, release: Release, issued: Issued
):
    # Given
    url = _package_url(client, issued.key)
    private_s3.stop()

    # When
    timings, responses = [], []
    for _ in range(5):
        response, ms = _timed(lambda: client.get(url, HTTP_USER_AGENT=WP_UA))
        timings.append(ms)
        responses.append(response)

    # Then every one is refused the same readable way
    assert [r.status_code for r in responses] == [503] * 5
    assert len({r.content for r in responses}) == 1
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json() == {
        "code": "storage_unavailable",
        "message": "The package for formwell 2.4.1 is not available right now; "
        "try again in a few minutes.",
    }
    # WordPress prints the reason phrase after "Download failed.".
    assert response.reason_phrase.startswith("The package for formwell 2.4.1 is not available")
    print(f"\ndownload with S3 stopped: {', '.join(f'{ms:.0f}' for ms in timings)} ms")


def test_after_one_failed_probe_downloads_answer_503_without_asking_s3_until_the_window_ends(
    client, private_s3: PrivateS3, release: Release, issued: Issued
):
    # Given: one download meets the stopped S3 (a window of 10 s, the default)
    key = release.zip_file.name
    body = private_s3.client().get_object(Bucket=private_s3.bucket, Key=key)["Body"].read()
    url = _package_url(client, issued.key)
    private_s3.stop()
    assert client.get(url, HTTP_USER_AGENT=WP_UA).status_code == 503

    # When S3 is back with the object, within the window and after it
    private_s3.start()
    private_s3.client().put_object(Bucket=private_s3.bucket, Key=key, Body=body)
    with override_settings(DEPOT_STORAGE_BREAKER_SECONDS=600):
        within = client.get(url, HTTP_USER_AGENT=WP_UA)
    with override_settings(DEPOT_STORAGE_BREAKER_SECONDS=0):
        after = client.get(url, HTTP_USER_AGENT=WP_UA)

    # Then: this process did not ask S3 within the window, and asks again after it
    assert within.status_code == 503
    assert within.json()["code"] == "storage_unavailable"
    assert after.status_code == 302


def test_with_s3_hung_one_download_waits_out_the_timeouts_and_the_next_ones_do_not(
    client, private_s3: PrivateS3, release: Release, issued: Issued
):
    # Given: S3 accepts connections and never answers
    url = _package_url(client, issued.key)
    private_s3.pause()

    # When
    first, first_ms = _timed(lambda: client.get(url, HTTP_USER_AGENT=WP_UA))
    second, second_ms = _timed(lambda: client.get(url, HTTP_USER_AGENT=WP_UA))

    # Then
    assert first.status_code == second.status_code == 503
    assert second.json()["code"] == "storage_unavailable"
    print(f"\ndownload with S3 hung: first {first_ms:.0f} ms, next {second_ms:.0f} ms")


def test_with_s3_stopped_the_signature_still_answers_from_the_recorded_digest(
    client, private_s3: PrivateS3, release: Release, issued: Issued
):
    # Given
    url = _package_url(client, issued.key)
    private_s3.stop()

    # When
    response = client.get(url + ".sig", HTTP_USER_AGENT=WP_UA)

    # Then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_with_s3_stopped_an_admin_upload_is_a_form_error_and_nothing_is_written(
    admin_client, private_s3: PrivateS3, product: Product
):
    # Given
    private_s3.stop()
    events_before = OutboxEvent.objects.count()

    # When
    response, ms = _timed(
        lambda: admin_client.post(
            ADMIN_ADD_URL,
            {"zip": _zip(), "product": product.pk, "channel": "stable", "rollout_percent": "100"},
        )
    )

    # Then
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["zip"]
    assert errors == [
        "The package store could not be reached, so formwell 2.5.0 was not published. "
        "Nothing was saved; try again in a few minutes."
    ]
    assert not Release.objects.exists()
    assert OutboxEvent.objects.count() == events_before
    print(f"\nadmin upload with S3 stopped: {ms:.0f} ms")


def test_with_s3_stopped_the_vendor_api_answers_503_json_with_retry_after(
    private_s3: PrivateS3, product: Product
):
    # Given
    _, secret = publish_token_create(name="GitHub Actions", products=[product])
    private_s3.stop()

    # When
    response = Client(enforce_csrf_checks=True).post(
        VENDOR_URL, {"zip": _zip()}, HTTP_AUTHORIZATION=f"Bearer {secret}"
    )

    # Then
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["code"] == "storage_unavailable"
    assert "try again in a few minutes" in response.json()["message"]
    assert not Release.objects.exists()


# Missing objects ----------------------------------------------------------------------------


def test_an_object_deleted_from_s3_is_a_404_with_guidance_and_the_check_still_offers_it(
    client, private_s3: PrivateS3, release: Release, issued: Issued
):
    # Given
    private_s3.client().delete_object(Bucket=private_s3.bucket, Key=release.zip_file.name)

    # When
    url = _package_url(client, issued.key)
    response = client.get(url, HTTP_USER_AGENT=WP_UA)

    # Then
    assert response.status_code == 404
    assert response.json()["code"] == "package_missing"
    assert response.json()["message"].startswith(
        "The package for formwell 2.4.1 is no longer available; check for updates again later"
    )
    assert "Retry-After" not in response


def test_a_file_deleted_from_filesystem_storage_is_a_404_with_guidance_not_a_500(
    client, tmp_path: Path, publish: Callable[..., Release], issued: Issued
):
    # Given
    storages = _storages("django.core.files.storage.FileSystemStorage", tmp_path)
    with override_settings(STORAGES=storages):
        release = publish("2.4.1")
        (tmp_path / release.zip_file.name).unlink()

        # When
        url = _package_url(client, issued.key)
        response = client.get(url, HTTP_USER_AGENT=WP_UA)

    # Then
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "package_missing"
    assert "no longer available" in response.reason_phrase


# Publishing verifies the stored object --------------------------------------------------------


def test_a_release_whose_stored_copy_is_incomplete_is_not_published_and_the_copy_is_removed(
    admin_client, tmp_path: Path, product: Product
):
    # Given
    backend = f"{TruncatingStorage.__module__}.TruncatingStorage"
    storages = _storages(backend, tmp_path)
    events_before = OutboxEvent.objects.count()
    upload = _zip()

    # When
    with override_settings(STORAGES=storages):
        response = admin_client.post(
            ADMIN_ADD_URL,
            {"zip": upload, "product": product.pk, "channel": "stable", "rollout_percent": "100"},
        )
        stored = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())

    # Then
    assert response.status_code == 200
    (error,) = response.context["adminform"].form.errors["zip"]
    assert error.startswith("The stored copy of formwell 2.5.0 did not match the upload")
    assert not Release.objects.exists()
    assert OutboxEvent.objects.count() == events_before
    assert stored == []


def test_a_release_on_s3_is_published_with_its_object_in_the_bucket(
    admin_client, private_s3: PrivateS3, product: Product
):
    # When
    response = admin_client.post(
        ADMIN_ADD_URL,
        {"zip": _zip(), "product": product.pk, "channel": "stable", "rollout_percent": "100"},
    )

    # Then
    assert response.status_code == 302
    release = Release.objects.get()
    head = private_s3.client().head_object(Bucket=private_s3.bucket, Key=release.zip_file.name)
    assert head["ContentLength"] == release.size
    assert default_storage.exists(release.zip_file.name)


class HungEndpoint:
    """A TCP listener that accepts connections and never answers: S3 hung, counted."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_server(("127.0.0.1", port))
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_with_s3_hung_a_download_probes_once_with_the_short_probe_timeout(
    client, private_s3: PrivateS3, release: Release, issued: Issued, settings
):
    # Given: S3's address takes connections and answers nothing
    settings.DEPOT_STORAGE_PROBE_TIMEOUT = 0.5
    url = _package_url(client, issued.key)
    private_s3.stop()
    hung = HungEndpoint(private_s3.port)
    try:
        # When a download asks whether the package is there
        response, ms = _timed(lambda: client.get(url, HTTP_USER_AGENT=WP_UA))
    finally:
        hung.close()

    # Then it asked once (no retry holding the worker a second time) and answered 503
    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert len(hung.accepted) == 1
    print(f"\ndownload probe with S3 hung: {ms:.0f} ms")
