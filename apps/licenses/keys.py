"""License keys: generated from a CSPRNG, stored only as an HMAC plus an encrypted copy.

Keys brought from another store (EDD's are 32 hex characters, md5 of the purchase) are kept
as they are: they go through the same normalisation and HMAC as ours, so the hash stored at
import is the hash computed when a site presents the key, and only Depot's own keys must
have Depot's shape.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Crockford's base32 alphabet: no I, L, O or U, so a key read aloud or retyped survives.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 6
GROUP_LENGTH = 5  # 30 symbols of 5 bits: 150 bits of randomness


def key_generate() -> str:
    """Return a new key such as ``3F7KQ-9XH2M-…`` (150 random bits, six groups of five)."""
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(symbols[i : i + GROUP_LENGTH] for i in range(0, len(symbols), GROUP_LENGTH))


def key_normalise(key: str) -> str:
    """Return `key` as typed by a human in canonical form: upper case, grouped, no spaces."""
    compact = "".join(ch for ch in key.upper() if ch.isalnum())
    compact = compact.translate(str.maketrans("OIL", "011"))
    return "-".join(compact[i : i + GROUP_LENGTH] for i in range(0, len(compact), GROUP_LENGTH))


# A foreign key shorter than this is guessable; longer than the update APIs read is unusable.
FOREIGN_KEY_MIN_SYMBOLS = 16
FOREIGN_KEY_MAX_LENGTH = 200


def key_foreign_refusal(key: str) -> str | None:
    """Return why a key made by another store cannot be kept as it is, or None if it can."""
    text = key.strip()
    if len(text) > FOREIGN_KEY_MAX_LENGTH:
        return f"the key is longer than {FOREIGN_KEY_MAX_LENGTH} characters"
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        return "the key contains spaces or invisible characters"
    symbols = key_normalise(text).replace("-", "")
    if len(symbols) < FOREIGN_KEY_MIN_SYMBOLS:
        return f"the key has fewer than {FOREIGN_KEY_MIN_SYMBOLS} letters and digits"
    return None


def key_hash(key: str) -> str:
    """Return the lookup hash of `key` (HMAC-SHA256 with the server's secret, hex)."""
    secret = settings.LICENSE_KEY_HMAC_SECRET
    if not secret:
        raise ImproperlyConfigured("LICENSE_KEY_HMAC_SECRET is not set")
    return _key_hash(secret, key)


@functools.lru_cache(maxsize=65536)
def _key_hash(secret: str, key: str) -> str:
    # Per process, by secret and key: every update check of a site hashes the same key.
    return hmac.new(secret.encode(), key_normalise(key).encode(), hashlib.sha256).hexdigest()


def _fernet() -> Fernet:
    raw = settings.LICENSE_KEY_ENCRYPTION_KEY
    if not raw:
        raise ImproperlyConfigured("LICENSE_KEY_ENCRYPTION_KEY is not set")
    try:
        secret = base64.urlsafe_b64decode(raw)
    except ValueError as exc:
        raise ImproperlyConfigured("LICENSE_KEY_ENCRYPTION_KEY is not base64") from exc
    if len(secret) != 32:
        raise ImproperlyConfigured("LICENSE_KEY_ENCRYPTION_KEY must decode to 32 bytes")
    return Fernet(base64.urlsafe_b64encode(secret))


def key_encrypt(key: str) -> str:
    """Return `key` encrypted for storage, so its owner can be shown it again."""
    return _fernet().encrypt(key.encode()).decode()


def key_decrypt(token: str) -> str:
    """Return the key stored in `token`."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("license key cannot be decrypted with this key") from exc
