"""Package signatures in the format WordPress core's `verify_file_signature()` checks.

Core hashes the downloaded file with `hash('sha384', …, true)` and passes the raw 48-byte
digest, the base64-decoded signature and each base64-decoded key of `wp_trusted_keys` to
`sodium_crypto_sign_verify_detached()`: an Ed25519 signature over the digest, not over the
file. Signing here must therefore sign exactly those 48 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SEED_BYTES = 32
DIGEST_BYTES = 48
SIGNATURE_BYTES = 64
CHUNK_BYTES = 1024 * 1024


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


def package_digest(stream: BinaryIO) -> bytes:
    """Return the raw SHA-384 digest of a package read from `stream` in chunks."""
    # Packages can be large and come from S3; never hold the whole file in memory.
    digest = hashlib.sha384()
    while chunk := stream.read(CHUNK_BYTES):
        digest.update(chunk)
    return digest.digest()


def package_signature(private_key: Ed25519PrivateKey, digest: bytes) -> str:
    """Return the base64 detached Ed25519 signature over a package's SHA-384 digest."""
    # Signing anything else (the file, a hex digest) would verify nowhere in WordPress.
    if len(digest) != DIGEST_BYTES:
        raise ValueError(f"digest must be the {DIGEST_BYTES} raw bytes of SHA-384")
    return base64.b64encode(private_key.sign(digest)).decode("ascii")


def signature_verify(public_key_b64: str, digest: bytes, signature_b64: str) -> bool:
    """Return whether `signature_b64` is a valid signature of `digest` by that public key."""
    try:
        public_key = Ed25519PublicKey.from_public_bytes(_b64decode(public_key_b64, "public key"))
        signature = _b64decode(signature_b64, "signature")
    except ValueError:
        return False
    # sodium_crypto_sign_verify_detached() refuses any other length before checking.
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        public_key.verify(signature, digest)
    except InvalidSignature:
        return False
    return True


def _b64decode(text: str, what: str) -> bytes:
    try:
        # validate=True: PHP's base64_decode() is lenient, but a key that needs leniency is a typo.
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"{what} is not valid base64") from error
