"""Endpoint secrets: made from a CSPRNG, kept encrypted, decrypted only to sign.

Encrypted with the license keys' Fernet key (LICENSE_KEY_ENCRYPTION_KEY, the one encryption
key Depot already has and backs up): the receiver needs the same secret to verify, so a
one-way hash (as publish tokens keep) cannot be used.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def secret_generate() -> str:
    """Return a new signing secret such as ``whsec_…`` (256 random bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def _fernet() -> Fernet:
    raw = settings.LICENSE_KEY_ENCRYPTION_KEY
    if not raw:
        raise ImproperlyConfigured("LICENSE_KEY_ENCRYPTION_KEY is not set")
    secret = base64.urlsafe_b64decode(raw)
    if len(secret) != 32:
        raise ImproperlyConfigured("LICENSE_KEY_ENCRYPTION_KEY must decode to 32 bytes")
    return Fernet(base64.urlsafe_b64encode(secret))


def secret_encrypt(secret: str) -> str:
    """Return `secret` encrypted for storage."""
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    """Return the secret stored as `token`."""
    return _fernet().decrypt(token.encode()).decode()
