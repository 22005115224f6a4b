"""Download tokens: signed, expiring, bound to a license, a release and a site.

A token is Django's TimestampSigner over ``[license_id, release_id, site]`` with a salt of
its own, so it cannot be forged or reused for another release or site, and it expires after
DEPOT_DOWNLOAD_TOKEN_HOURS (WordPress may keep an update offer for hours before someone
clicks "Update now"). The license is checked again when the token is used.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from apps.core.errors import DomainError
from apps.updates.delivery.rendered import PerPeriod

SALT = "depot.updates.download"
# The "site" of a token made for the customer account's download page: no WordPress site is
# involved, so the download checks the license alone. It cannot collide with a real site,
# which site_normalise() always gives as a host name.
ACCOUNT_SITE = "@account"


class DownloadRefused(DomainError):
    """A download the token or the license does not allow; the message is for the site admin."""

    status = 403


@dataclass(frozen=True)
class DownloadGrant:
    license_id: int
    release_id: int
    site: str


def download_token_make(*, license_id: int, release_id: int, site: str) -> str:
    """Return a URL-safe token for one license, release and site.

    Exactly what ``signing.dumps([license_id, release_id, site], salt=SALT)`` returns (a
    test compares them), without deriving the HMAC key again for every token: every licensed
    update check makes one.
    """
    # json.dumps([license_id, release_id, site], separators=(",", ":")), as signing.dumps
    # writes it; the ids are ints.
    payload = f"[{int(license_id)},{int(release_id)},{json.dumps(site)}]"
    data = signing.b64_encode(payload.encode("latin-1")).decode()
    value = f"{data}:{_b62_now()}"
    mac = _signer_mac(settings.SECRET_KEY).copy()
    mac.update(value.encode())
    return f"{value}:{signing.b64_encode(mac.digest()).decode()}"


# signing.b62_encode(int(time.time())), the timestamp signing.dumps writes, once a second.
_b62_now = PerPeriod(1, signing.b62_encode)


@functools.lru_cache(maxsize=4)
def _signer_mac(secret: str) -> hmac.HMAC:
    # Django's salted_hmac(SALT + "signer", value, secret, "sha256"), its key derived once.
    key = hashlib.sha256((SALT + "signer" + secret).encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def download_url(
    *, base_url: str, license_id: int, release_id: int, site: str, slug: str, version: str
) -> str:
    """Return the package URL a site downloads from: ``…/updates/download/<token>/<file>``."""
    token = download_token_make(license_id=license_id, release_id=release_id, site=site)
    return f"{base_url}/updates/download/{token}/{slug}-{version}.zip"


def updates_base_url(request_base_url: str) -> str:
    """The address package links point at: DEPOT_UPDATES_BASE_URL, else the request's own."""
    configured: str = settings.DEPOT_UPDATES_BASE_URL
    return configured.rstrip("/") if configured else request_base_url


def account_download_url(
    *, base_url: str, license_id: int, release_id: int, slug: str, version: str
) -> str:
    """Return a download URL for the customer account (or a receipt): license-checked, no site."""
    return download_url(
        base_url=base_url,
        license_id=license_id,
        release_id=release_id,
        site=ACCOUNT_SITE,
        slug=slug,
        version=version,
    )


def download_token_read(token: str) -> DownloadGrant:
    """Return what a token grants, or raise DownloadRefused with a readable reason."""
    max_age = settings.DEPOT_DOWNLOAD_TOKEN_HOURS * 3600
    try:
        license_id, release_id, site = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise DownloadRefused(
            "This download link has expired. Check for updates again in WordPress "
            "(Dashboard → Updates → Check again) to get a fresh one.",
            code="token_expired",
        ) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise DownloadRefused(
            "This download link is not valid. Check for updates again in WordPress to get a "
            "new one.",
            code="token_invalid",
        ) from None
    if not (isinstance(license_id, int) and isinstance(release_id, int) and isinstance(site, str)):
        raise DownloadRefused("This download link is not valid.", code="token_invalid")
    return DownloadGrant(license_id=license_id, release_id=release_id, site=site)
