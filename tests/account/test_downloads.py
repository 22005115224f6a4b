"""The account's downloads page: license-checked links to each release, bound to no site."""

from __future__ import annotations

import html as html_lib
import re
import urllib.request
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import Resolver404, resolve
from django.utils import timezone

from apps.licenses.models import License, Product
from apps.licenses.selectors import license_key_reveal
from apps.licenses.services import (
    license_activate,
    license_deactivate,
    license_revoke,
)
from apps.updates.delivery.package_tokens import ACCOUNT_SITE, download_token_read, download_url
from apps.updates.models import Release
from tests.builders import WP_UA, customer_make, license_make
from tests.conftest import REAL

pytestmark = pytest.mark.django_db

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.fixture
def customer() -> User:
    return customer_make()


@pytest.fixture
def own(product: Product, customer: User) -> Callable[..., License]:
    def make(*, owner: User = customer, days: int | None = 365) -> License:
        return license_make(product, email=owner.email, days=days, customer=owner).license

    return make


def _links(client) -> list[tuple[str, str]]:
    """Return (version, download link) for every link on the page, in page order."""
    response = client.get("/account/downloads/")
    assert response.status_code == 200
    found = re.findall(
        r'href="([^"]+/updates/download/[^"]+/formwell-([0-9][^"/]*)\.zip)"',
        response.content.decode(),
    )
    return [(version, html_lib.unescape(url)) for url, version in found]


def _link(client, version: str) -> str:
    return next(url for v, url in _links(client) if v == version)


def _uploaded(release: Release) -> bytes:
    release.zip_file.open("rb")
    try:
        return release.zip_file.read()
    finally:
        release.zip_file.close()


def _download(client, url: str, ua: str = BROWSER_UA):
    """Fetch a link as a browser does: on S3 the 302 is followed to the pre-signed URL."""
    response = client.get(url.removeprefix("http://testserver"), HTTP_USER_AGENT=ua)
    if response.status_code == 302:
        with urllib.request.urlopen(response["Location"], timeout=10) as s3:  # noqa: S310 (moto)
            return response, s3.read()
    if response.status_code == 200:
        return response, b"".join(response.streaming_content)
    return response, b""


def test_the_page_lists_the_latest_stable_release_and_older_ones(client, publish, own, customer):
    # Given
    publish("2.3.0")
    publish("2.4.0")
    publish("2.4.1")
    publish("2.5.0-beta.1", channel=Release.Channel.BETA)
    license = own()
    client.force_login(customer)

    # When
    response = client.get("/account/downloads/")

    # Then
    page = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert f"license …{license.key_hint}" in page
    assert re.search(r'<tr class="latest">\s*<td><strong>2\.4\.1</strong>', page)
    assert [v for v in re.findall(r'<tr class="older">\s*<td>([^<]+)</td>', page)] == [
        "2.4.0",
        "2.3.0",
    ]
    links = _links(client)
    assert [version for version, _ in links] == ["2.4.1", "2.4.0", "2.3.0"]
    for version, url in links:
        assert url.startswith("http://testserver/updates/download/")
        grant = download_token_read(url.split("/")[-2])
        assert grant.license_id == license.pk
        assert grant.site == ACCOUNT_SITE
        assert url.endswith(f"/formwell-{version}.zip")


def test_the_links_point_at_the_configured_updates_host(client, release, own, customer, settings):
    # Given
    settings.DEPOT_UPDATES_BASE_URL = "https://updates.example.com/"
    own()
    client.force_login(customer)

    # When
    link = _link(client, "2.4.1")

    # Then
    assert link.startswith("https://updates.example.com/updates/download/")


def test_an_account_link_downloads_the_uploaded_zip_without_any_site(
    client, release, own, customer
):
    # Given: a license active on no site at all
    own()
    client.force_login(customer)
    link = _link(client, "2.4.1")

    # When
    response, body = _download(client, link)

    # Then: on S3 a redirect to a pre-signed URL, on the embedded default the file itself
    assert response.status_code == (302 if REAL else 200)
    assert response["Cache-Control"] == "private, no-store"
    assert body == _uploaded(release)
    assert client.get(link.removeprefix("http://testserver") + ".sig").status_code == 200


def test_an_older_release_downloads_for_rollback(client, publish, own, customer):
    # Given
    old = publish("2.4.0")
    publish("2.4.1")
    own()
    client.force_login(customer)

    # When
    response, body = _download(client, _link(client, "2.4.0"))

    # Then
    assert response.status_code in (200, 302)
    assert body == _uploaded(old)


def test_an_account_link_is_not_compared_with_a_wordpress_sites_user_agent(
    client, release, own, customer
):
    # Given: the customer uploads the zip from a site's "Add plugin" screen, or a tool fetches it
    own()
    client.force_login(customer)
    link = _link(client, "2.4.1")

    # When
    response, body = _download(client, link, ua="WordPress/6.7.1; https://anywhere.example.net/")

    # Then
    assert response.status_code in (200, 302)
    assert body == _uploaded(release)


def test_a_revoked_license_shows_why_and_its_earlier_link_is_refused(
    client, release, own, customer
):
    # Given
    license = own()
    client.force_login(customer)
    link = _link(client, "2.4.1")

    # When
    license_revoke(license_id=license.pk)
    page = client.get("/account/downloads/").content.decode()
    response, body = _download(client, link)

    # Then
    assert "No downloads: This license was revoked." in page
    assert "/updates/download/" not in page
    assert response.status_code == 403
    assert response.json() == {"code": "license_disabled", "message": "This license was revoked."}
    assert body == b""


def test_an_expired_license_shows_where_to_renew_and_its_earlier_link_is_refused(
    client, release, own, customer
):
    # Given
    license = own()
    client.force_login(customer)
    link = _link(client, "2.4.1")

    # When
    license.expires_at = timezone.now() - timedelta(days=2)
    license.save()
    page = client.get("/account/downloads/").content.decode()
    response, _ = _download(client, link)

    # Then
    assert "No downloads: This license expired on" in page
    assert f'href="/account/licenses/{license.pk}/">Renew this license</a>' in page
    assert "/updates/download/" not in page
    assert response.status_code == 403
    assert response.json()["code"] == "license_expired"


def test_another_customer_sees_only_their_own_licenses_and_links(client, release, own, customer):
    # Given
    mine = own()
    stranger = User.objects.create_user(username="other", email="other@example.com", password="x")
    theirs = own(owner=stranger)

    # When
    client.force_login(stranger)
    page = client.get("/account/downloads/").content.decode()

    # Then
    assert f'id="downloads-{theirs.pk}"' in page
    assert f'id="downloads-{mine.pk}"' not in page
    grants = {download_token_read(url.split("/")[-2]).license_id for _, url in _links(client)}
    assert grants == {theirs.pk}

    # When: nobody is signed in
    client.logout()
    response = client.get("/account/downloads/")

    # Then
    assert response.status_code == 302
    assert response["Location"] == "/account/login/?next=/account/downloads/"


def test_a_customer_without_licenses_sees_none(client, release, customer):
    client.force_login(customer)

    response = client.get("/account/downloads/")

    assert response.status_code == 200
    assert "You have no licenses yet." in response.content.decode()
    assert "/updates/download/" not in response.content.decode()


def test_a_site_token_is_still_checked_against_its_site_even_from_a_browser(
    client, release, own, customer
):
    # Given: a token made for a site, whose activation was then removed
    license = own()
    license_activate(license_id=license.pk, site_url="https://shop.example.com/")
    url = download_url(
        base_url="",
        license_id=license.pk,
        release_id=release.pk,
        site="shop.example.com",
        slug="formwell",
        version="2.4.1",
    )
    license_deactivate(license_id=license.pk, site_url="https://shop.example.com/")

    # When: fetched without WordPress's User-Agent, as the account's links are
    response, body = _download(client, url)

    # Then: it is not taken for an account link
    assert response.status_code == 403
    assert response.json()["code"] == "license_inactive"
    assert body == b""


def test_a_site_calling_itself_account_gets_a_site_token_not_an_account_token(client, release, own):
    # Given: a license activated from a site whose URL claims the account's marker
    license = own()
    key_site = "@account"
    license_activate(license_id=license.pk, site_url=key_site)
    key = license_key_reveal(license=license)
    ua = f"WordPress/6.7.1; {key_site}"
    doc = client.get("/updates/puc/formwell/", {"license_key": key}, HTTP_USER_AGENT=ua).json()
    token = doc["download_url"].split("/")[-2]

    # When
    grant = download_token_read(token)
    license_deactivate(license_id=license.pk, site_url=key_site)
    response, _ = _download(client, doc["download_url"], ua=ua)

    # Then: the token names the normalised site, so the site's activation is still required
    assert grant.site != ACCOUNT_SITE
    assert response.status_code == 403
    assert response.json()["code"] in ("license_inactive", "license_site_inactive")


def test_a_site_token_from_the_update_api_is_refused_to_another_site_as_before(
    client, release, own
):
    # Given
    license = own()
    license_activate(license_id=license.pk, site_url="https://shop.example.com/")
    key = license_key_reveal(license=license)
    doc = client.get("/updates/puc/formwell/", {"license_key": key}, HTTP_USER_AGENT=WP_UA).json()

    # When
    response, _ = _download(
        client, doc["download_url"], ua="WordPress/6.7.1; https://freeloader.example.org/"
    )

    # Then
    assert response.status_code == 403
    assert response.json()["code"] == "token_site_mismatch"


def test_the_page_reads_the_same_number_of_queries_for_many_licenses(
    client, publish, own, customer
):
    # Given
    publish("2.4.0")
    publish("2.4.1")
    own()
    client.force_login(customer)
    with CaptureQueriesContext(connection) as one:
        client.get("/account/downloads/")
    for _ in range(4):
        own()

    # When
    with CaptureQueriesContext(connection) as five:
        response = client.get("/account/downloads/")

    # Then
    assert response.status_code == 200
    assert len(_links(client)) == 10
    assert len(five) == len(one)


def test_the_updates_role_does_not_route_the_account_page():
    with pytest.raises(Resolver404):
        resolve("/account/downloads/", urlconf="config.urls_updates")
    assert resolve("/account/downloads/", urlconf="config.urls").view_name == "account:downloads"
