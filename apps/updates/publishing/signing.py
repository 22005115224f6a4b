"""Package signatures in the format WordPress core's `verify_file_signature()` checks.

Core hashes the downloaded file with `hash('sha384', …, true)` and passes the raw 48-byte
digest, the base64-decoded signature and each base64-decoded key of `wp_trusted_keys` to
`sodium_crypto_sign_verify_detached()`: an Ed25519 signature over the digest, not over the
file. Signing here must therefore sign exactly those 48 bytes.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SEED_BYTES = 32
DIGEST_BYTES = 48


def signing_key_generate() -> str:
    """Return a new Ed25519 seed, base64-encoded, fit for the DEPOT_SIGNING_KEY variable."""
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    return base64.b64encode(seed).decode("ascii")


def signing_key_from_base64(text: str) -> Ed25519PrivateKey:
    """Load the private key from its base64-encoded 32-byte Ed25519 seed."""
    seed = _b64decode(text, "signing key")
    if len(seed) != SEED_BYTES:
        raise ValueError(f"signing key must be a {SEED_BYTES}-byte seed, got {len(seed)} bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_base64(private_key: Ed25519PrivateKey) -> str:
    """Return the base64 public key a vendor adds to `wp_trusted_keys`."""
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def package_signature(private_key: Ed25519PrivateKey, digest: bytes) -> str:
    """Return the base64 detached Ed25519 signature over a package's SHA-384 digest."""
    # Signing anything else (the file, a hex digest) would verify nowhere in WordPress.
    if len(digest) != DIGEST_BYTES:
        raise ValueError(f"digest must be the {DIGEST_BYTES} raw bytes of SHA-384")
    return base64.b64encode(private_key.sign(digest)).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    try:
        # validate=True: PHP's base64_decode() is lenient, but a key that needs leniency is a typo.
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"{what} is not valid base64") from error
