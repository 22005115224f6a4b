"""Download tokens are made without Django's signer but are exactly what it makes and reads."""

from __future__ import annotations

import time

import pytest
from django.core import signing

from apps.updates.delivery.package_tokens import (
    SALT,
    download_token_make,
    download_token_read,
)


@pytest.mark.parametrize(
    ("license_id", "release_id", "site"),
    [
        (1, 2, "example.com"),
        (98765, 4321, "shop.example.com/de"),
        (7, 8, "xn--bcher-kva.example"),
        # Sites JSON escapes: the payload is written as signing.dumps writes it.
        (3, 4, 'quote"d.example'),
        (3, 4, "back\\slash.example"),
        (3, 4, "bücher.example"),
        (3, 4, "tab\there\x7f"),
    ],
)
def test_a_token_is_byte_for_byte_what_djangos_signer_makes(
    monkeypatch, settings, license_id, release_id, site
):
    monkeypatch.setattr(time, "time", lambda: 1796061234.5)
    for secret in ("first-secret-key-for-this-test-0123456789", "second-secret-key-9876543210"):
        settings.SECRET_KEY = secret
        made = download_token_make(license_id=license_id, release_id=release_id, site=site)
        assert made == signing.dumps([license_id, release_id, site], salt=SALT, compress=False)
        grant = download_token_read(made)
        assert (grant.license_id, grant.release_id, grant.site) == (license_id, release_id, site)
