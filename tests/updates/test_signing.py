"""Package signatures, checked with libsodium (PyNaCl) the way WordPress core checks them.

verify_file_signature() in wp-admin/includes/file.php does, for each trusted key:
    sodium_crypto_sign_verify_detached(base64_decode($sig), hash_file('sha384', $file, true),
                                       base64_decode($key))
PyNaCl's VerifyKey.verify(message, signature) is that same libsodium call.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import zipfile
from pathlib import Path

import nacl.exceptions
import nacl.signing
import pytest

from apps.updates.publishing.signing import (
    package_signature,
    public_key_base64,
    signing_key_from_base64,
    signing_key_generate,
)
from tests.updates.wordpress_side import CHUNK_BYTES, package_digest, signature_verify

# RFC 8032 section 7.1, TEST 1: the seed and the public key it must give.
RFC8032_SEED_B64 = base64.b64encode(
    bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
).decode()
RFC8032_PUBLIC_KEY_HEX = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
# Computed once with PyNaCl and checked against PHP 8.2's sodium_crypto_sign_verify_detached();
# Ed25519 is deterministic, so the same seed and digest always give these bytes.
KNOWN_CONTENT = b"depot-1.2.3.zip contents"
KNOWN_SIGNATURE_B64 = (
    "wyluuCHt89JXNnDe43DnYV4y5lxQLmxCt6aagvLKCjM7mNKFw0j/DKZsFeyMGYPQpcNx01yfJhlzYDAt2VRPCA=="
)


def _plugin_zip(path: Path, version: str = "1.2.3") -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "depot-demo/depot-demo.php",
            f"<?php\n/**\n * Plugin Name: Depot Demo\n * Version: {version}\n */\n",
        )
        archive.writestr("depot-demo/readme.txt", "=== Depot Demo ===\nStable tag: 1.2.3\n")
    return path


def _digest_of(path: Path) -> bytes:
    with path.open("rb") as stream:
        return package_digest(stream)


def _wordpress_verifies(public_key_b64: str, digest: bytes, signature_b64: str) -> bool:
    verify_key = nacl.signing.VerifyKey(base64.b64decode(public_key_b64))
    try:
        verify_key.verify(digest, base64.b64decode(signature_b64))
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def test_signed_zip_verifies_with_libsodium_as_wordpress_does(tmp_path: Path) -> None:
    # Given a fresh key and a plugin zip
    private_key = signing_key_from_base64(signing_key_generate())
    package = _plugin_zip(tmp_path / "depot-demo-1.2.3.zip")

    # When its SHA-384 digest is signed
    digest = _digest_of(package)
    signature = package_signature(private_key, digest)

    # Then libsodium accepts it over the raw digest, as core does, and so do we
    public_key = public_key_base64(private_key)
    assert len(digest) == 48
    assert len(base64.b64decode(signature)) == 64
    assert _wordpress_verifies(public_key, hashlib.sha384(package.read_bytes()).digest(), signature)
    assert signature_verify(public_key, digest, signature)


def test_tampered_zip_fails_verification(tmp_path: Path) -> None:
    # Given a signed zip
    private_key = signing_key_from_base64(signing_key_generate())
    package = _plugin_zip(tmp_path / "depot-demo-1.2.3.zip")
    signature = package_signature(private_key, _digest_of(package))
    public_key = public_key_base64(private_key)

    # When one byte of it changes
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0x01
    package.write_bytes(bytes(data))
    digest = _digest_of(package)

    # Then neither libsodium nor we accept the signature
    assert not _wordpress_verifies(public_key, digest, signature)
    assert not signature_verify(public_key, digest, signature)


def test_another_release_signature_does_not_verify_this_one(tmp_path: Path) -> None:
    # Given two releases signed by the same key; then one's signature fails the other's digest.
    private_key = signing_key_from_base64(signing_key_generate())
    old = _digest_of(_plugin_zip(tmp_path / "old.zip", version="1.2.2"))
    new = _digest_of(_plugin_zip(tmp_path / "new.zip", version="1.2.3"))
    signature = package_signature(private_key, old)

    assert not _wordpress_verifies(public_key_base64(private_key), new, signature)
    assert not signature_verify(public_key_base64(private_key), new, signature)


def test_wrong_key_fails_verification(tmp_path: Path) -> None:
    # Given a zip signed by one key; when checked against another vendor's key; then it fails.
    signer = signing_key_from_base64(signing_key_generate())
    stranger = signing_key_from_base64(signing_key_generate())
    digest = _digest_of(_plugin_zip(tmp_path / "depot-demo-1.2.3.zip"))
    signature = package_signature(signer, digest)

    assert not _wordpress_verifies(public_key_base64(stranger), digest, signature)
    assert not signature_verify(public_key_base64(stranger), digest, signature)


def test_known_seed_gives_known_public_key_and_signature() -> None:
    # Given the RFC 8032 seed
    private_key = signing_key_from_base64(RFC8032_SEED_B64)
    digest = package_digest(io.BytesIO(KNOWN_CONTENT))

    # When its public key and a signature are made
    public_key = public_key_base64(private_key)
    signature = package_signature(private_key, digest)

    # Then they are the known answers, and libsodium signs identically from the same seed
    assert base64.b64decode(public_key).hex() == RFC8032_PUBLIC_KEY_HEX
    assert signature == KNOWN_SIGNATURE_B64
    libsodium_key = nacl.signing.SigningKey(base64.b64decode(RFC8032_SEED_B64))
    assert base64.b64encode(libsodium_key.sign(digest).signature).decode() == signature
    assert _wordpress_verifies(public_key, digest, signature)


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES * 2 + 12345])
def test_streamed_digest_equals_hashlib_over_the_whole_file(size: int) -> None:
    # Given content around the chunk boundaries; then the streamed digest is SHA-384 of it all.
    content = random.Random(size).randbytes(size)

    assert package_digest(io.BytesIO(content)) == hashlib.sha384(content).digest()


def test_generated_keys_are_fresh_32_byte_seeds() -> None:
    # Given two generated keys; then each is a 32-byte base64 seed and they differ.
    first, second = signing_key_generate(), signing_key_generate()

    assert len(base64.b64decode(first, validate=True)) == 32
    assert first != second
    assert public_key_base64(signing_key_from_base64(first)) != public_key_base64(
        signing_key_from_base64(second)
    )


def test_signing_key_tolerates_surrounding_whitespace_of_an_env_file() -> None:
    # Given the seed with a trailing newline, as `echo … > .env` leaves it; then it loads.
    private_key = signing_key_from_base64(f"  {RFC8032_SEED_B64}\n")

    assert base64.b64decode(public_key_base64(private_key)).hex() == RFC8032_PUBLIC_KEY_HEX


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64!",
        base64.b64encode(b"\x01" * 31).decode(),
        base64.b64encode(b"\x01" * 64).decode(),  # a libsodium secret key, not a seed
        RFC8032_SEED_B64[:-2],
    ],
)
def test_signing_key_refuses_anything_but_a_32_byte_seed(text: str) -> None:
    with pytest.raises(ValueError):
        signing_key_from_base64(text)


@pytest.mark.parametrize(
    "digest",
    [
        hashlib.sha384(KNOWN_CONTENT).hexdigest().encode(),  # hex, not raw
        hashlib.sha256(KNOWN_CONTENT).digest(),
        KNOWN_CONTENT,
    ],
)
def test_signing_refuses_anything_but_a_raw_sha384_digest(digest: bytes) -> None:
    # Given bytes WordPress would never hash to; then refusing beats a signature nobody accepts.
    with pytest.raises(ValueError, match="SHA-384"):
        package_signature(signing_key_from_base64(RFC8032_SEED_B64), digest)


@pytest.mark.parametrize(
    ("public_key", "signature"),
    [
        ("not base64!", KNOWN_SIGNATURE_B64),
        (base64.b64encode(b"\x00" * 31).decode(), KNOWN_SIGNATURE_B64),
        (None, "not base64!"),
        (None, base64.b64encode(base64.b64decode(KNOWN_SIGNATURE_B64)[:63]).decode()),
        (None, base64.b64encode(base64.b64decode(KNOWN_SIGNATURE_B64) + b"\x00").decode()),
        (None, ""),
    ],
)
def test_verify_answers_false_for_malformed_keys_and_signatures(
    public_key: str | None, signature: str
) -> None:
    # Given a malformed key or signature; then verification says no instead of raising.
    key = public_key or public_key_base64(signing_key_from_base64(RFC8032_SEED_B64))
    digest = package_digest(io.BytesIO(KNOWN_CONTENT))

    assert signature_verify(key, digest, signature) is False
