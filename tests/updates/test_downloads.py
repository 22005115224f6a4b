"""Downloads: token → license re-check → pre-signed URL (S3) or the file → bytes; .sig."""

from __future__ import annotations

import base64
import hashlib
import time
import urllib.request
from datetime import timedelta
from unittest import mock

import nacl.signing
import pytest
from django.conf import settings
from django.utils import timezone

from apps.licenses.services import license_deactivate, license_revoke
from apps.updates.publishing.signing import public_key_base64, signing_key_from_base64
from tests.builders import SITE, WP_UA

pytestmark = pytest.mark.django_db


def _package_url(client, key, ua=WP_UA):
    doc = client.get("/updates/puc/formwell/", {"license_key": key}, HTTP_USER_AGENT=ua).json()
    return doc["download_url"].removeprefix("http://testserver")


def _fetch(client, url, ua=WP_UA):
    response = client.get(url, HTTP_USER_AGENT=ua)
    if response.status_code == 302:
        # On S3: the pre-signed URL, fetched as WordPress would, from the S3 endpoint.
        location = response["Location"]
        assert "X-Amz-Expires=60" in location
        with urllib.request.urlopen(location, timeout=10) as s3:  # noqa: S310 (test endpoint)
            return response, s3.read()
    return response, b"".join(response.streaming_content)


def test_a_licensed_site_downloads_exactly_the_uploaded_zip(client, release, issued):
    url = _package_url(client, issued.key)

    response, body = _fetch(client, url)

    assert response.status_code in (200, 302)
    assert response["Cache-Control"] == "private, no-store"
    release.zip_file.open("rb")
    try:
        uploaded = release.zip_file.read()
    finally:
        release.zip_file.close()
    assert body == uploaded
    assert hashlib.sha384(body).hexdigest() == release.sha384


def test_the_signature_verifies_with_the_public_key_over_the_sha384_digest(client, release, issued):
    url = _package_url(client, issued.key)
    _, body = _fetch(client, url)

    response = client.get(url + ".sig", HTTP_USER_AGENT=WP_UA)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    signature = base64.b64decode(response.content.decode().strip())
    public = public_key_base64(signing_key_from_base64(settings.DEPOT_SIGNING_KEY))
    # What WordPress core's verify_file_signature() does with sodium.
    verify_key = nacl.signing.VerifyKey(base64.b64decode(public))
    verify_key.verify(hashlib.sha384(body).digest(), signature)
    with pytest.raises(nacl.exceptions.BadSignatureError):
        verify_key.verify(hashlib.sha384(body + b"x").digest(), signature)


def test_an_expired_token_is_refused_with_a_sentence(client, release, issued):
    hours_ago = time.time() - (settings.DEPOT_DOWNLOAD_TOKEN_HOURS + 1) * 3600
    with mock.patch("django.core.signing.time.time", return_value=hours_ago):
        url = _package_url(client, issued.key)

    response = client.get(url, HTTP_USER_AGENT=WP_UA)

    assert response.status_code == 403
    assert response.json()["code"] == "token_expired"
    assert response.json()["message"].startswith("This download link has expired.")
    # WordPress prints the reason phrase after "Download failed.".
    assert response.reason_phrase.startswith("This download link has expired.")


def test_a_revoked_license_is_refused_at_download(client, release, issued):
    url = _package_url(client, issued.key)
    license_revoke(license_id=issued.license.pk)

    response = client.get(url, HTTP_USER_AGENT=WP_UA)

    assert response.status_code == 403
    assert response.json() == {"code": "license_disabled", "message": "This license was revoked."}


def test_an_expired_license_is_refused_with_where_to_renew(client, release, issued):
    url = _package_url(client, issued.key)
    issued.license.expires_at = timezone.now() - timedelta(days=1)
    issued.license.save()

    response = client.get(url, HTTP_USER_AGENT=WP_UA)

    assert response.status_code == 403
    assert response.json()["code"] == "license_expired"
    assert "Renew it at https://shop.example.com/account/" in response.json()["message"]


def test_a_site_deactivated_since_the_check_is_refused(client, release, issued):
    url = _package_url(client, issued.key)
    license_deactivate(license_id=issued.license.pk, site_url=SITE)

    response = client.get(url, HTTP_USER_AGENT=WP_UA)

    assert response.status_code == 403
    assert "not activated for this site" in response.json()["message"]


def test_another_sites_token_is_refused(client, release, issued):
    url = _package_url(client, issued.key)

    response = client.get(url, HTTP_USER_AGENT="WordPress/6.7.1; https://freeloader.example.org")

    assert response.status_code == 403
    assert response.json()["code"] == "token_site_mismatch"
    assert "issued to another site" in response.json()["message"]


def test_a_tampered_token_or_file_name_is_refused(client, release, publish, issued):
    url = _package_url(client, issued.key)
    token = url.split("/")[3]
    tampered = url.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    other_file = url.replace("formwell-2.4.1.zip", "formwell-9.9.9.zip")

    assert client.get(tampered, HTTP_USER_AGENT=WP_UA).json()["code"] == "token_invalid"
    assert client.get(other_file, HTTP_USER_AGENT=WP_UA).json()["code"] == "token_invalid"


def test_older_releases_stay_downloadable_for_rollback(client, publish, issued):
    old = publish("2.4.0")
    publish("2.4.1")
    from apps.updates.delivery.package_tokens import download_url

    url = download_url(
        base_url="",
        license_id=issued.license.pk,
        release_id=old.pk,
        site="shop.example.com",
        slug="formwell",
        version="2.4.0",
    )

    response, body = _fetch(client, url)

    assert response.status_code in (200, 302)
    assert body[:2] == b"PK"


@pytest.mark.real_services
def test_on_s3_the_download_is_a_302_to_a_url_valid_for_60_seconds(client, release, issued):
    url = _package_url(client, issued.key)

    response = client.get(url, HTTP_USER_AGENT=WP_UA)

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(settings.STORAGES["default"]["OPTIONS"]["endpoint_url"])
    assert "X-Amz-Expires=60" in location
    assert "formwell-2.4.1.zip" in location
