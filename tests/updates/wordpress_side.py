"""The WordPress side of Depot's answers, in Python, for tests only.

Production never reads PHP-serialized text or checks a package signature: the EDD updater's
`maybe_unserialize()` and core's `verify_file_signature()` do, on the site. These are strict
Python stand-ins for them, so tests can read back what `apps.updates.delivery.php` writes and
what `apps.updates.publishing.signing` signs.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from apps.updates.delivery.php import (
    MAX_DEPTH,
    PHP_INT_MAX,
    PHP_INT_MIN,
    PhpValue,
    php_array_key,
)

SIGNATURE_BYTES = 64
CHUNK_BYTES = 1024 * 1024

# Grammar of ext/standard/var_unserializer.re; [0-9] rather than \d, which takes any Unicode digit.
_NULL = re.compile(rb"N;")
_BOOL = re.compile(rb"b:([01]);")
_INT = re.compile(rb"i:([+-]?[0-9]+);")
_FLOAT = re.compile(rb"d:(NAN|-?INF|[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?);")
_STRING_HEAD = re.compile(rb's:([0-9]+):"')
_ARRAY_HEAD = re.compile(rb"a:([0-9]+):\{")


def php_unserialize(text: str) -> PhpValue:
    """Parse one PHP-serialized value; raise ValueError unless `text` is exactly one."""
    # Lengths in the format count UTF-8 bytes, so parse the bytes, not the characters.
    data = text.encode("utf-8")
    value, end = _Parser(data).value(0, 0)
    if end != len(data):
        raise ValueError(f"unexpected data after the value at byte {end}")
    return value


def package_digest(stream: BinaryIO) -> bytes:
    """Return the raw SHA-384 digest of a package read from `stream` in chunks."""
    # Packages can be large; never hold the whole file in memory.
    digest = hashlib.sha384()
    while chunk := stream.read(CHUNK_BYTES):
        digest.update(chunk)
    return digest.digest()


def signature_verify(public_key_b64: str, digest: bytes, signature_b64: str) -> bool:
    """Return whether `signature_b64` is a valid signature of `digest` by that public key."""
    try:
        public_key = Ed25519PublicKey.from_public_bytes(_b64decode(public_key_b64))
        signature = _b64decode(signature_b64)
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


def _b64decode(text: str) -> bytes:
    # validate=True, as apps.updates.publishing.signing decodes keys: binascii.Error is a
    # ValueError, so a malformed key or signature is "not verified", never an exception.
    return base64.b64decode(text.strip(), validate=True)


class _Parser:
    """A recursive-descent reader over the UTF-8 bytes of one serialized value."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def value(self, pos: int, depth: int) -> tuple[PhpValue, int]:
        data = self.data
        if match := _NULL.match(data, pos):
            return None, match.end()
        if match := _BOOL.match(data, pos):
            return match[1] == b"1", match.end()
        if match := _INT.match(data, pos):
            return self._int(match[1], pos), match.end()
        if match := _FLOAT.match(data, pos):
            return float(match[1]), match.end()
        if data.startswith(b"s:", pos):
            return self._string(pos)
        if data.startswith(b"a:", pos):
            return self._array(pos, depth)
        raise ValueError(f"no serialized value at byte {pos}: {data[pos : pos + 20]!r}")

    def _int(self, digits: bytes, pos: int) -> int:
        number = int(digits)
        # PHP clamps with a warning; a strict reader has no business guessing.
        if not PHP_INT_MIN <= number <= PHP_INT_MAX:
            raise ValueError(f"integer at byte {pos} is outside PHP's 64-bit range")
        return number

    def _string(self, pos: int) -> tuple[str, int]:
        head = _STRING_HEAD.match(self.data, pos)
        if head is None:
            raise ValueError(f"malformed string header at byte {pos}")
        start = head.end()
        end = start + int(head[1])
        if self.data[end : end + 2] != b'";':
            raise ValueError(f"string at byte {pos} does not end after its declared length")
        try:
            return self.data[start:end].decode("utf-8"), end + 2
        except UnicodeDecodeError as error:
            raise ValueError(f"string at byte {pos} is not valid UTF-8") from error

    def _array(self, pos: int, depth: int) -> tuple[PhpValue, int]:
        head = _ARRAY_HEAD.match(self.data, pos)
        if head is None:
            raise ValueError(f"malformed array header at byte {pos}")
        if depth >= MAX_DEPTH:
            raise ValueError(f"arrays nested deeper than {MAX_DEPTH} levels")
        count = int(head[1])
        result: dict[int | str, PhpValue] = {}
        cursor = head.end()
        for _ in range(count):
            key, cursor = self._key(cursor)
            # A repeated key overwrites, as in PHP's own unserialize().
            result[key], cursor = self.value(cursor, depth + 1)
        if self.data[cursor : cursor + 1] != b"}":
            raise ValueError(f"array at byte {pos} does not hold the {count} items it declares")
        # PHP arrays are also its lists; give back a list where array_is_list() would say so.
        if list(result) == list(range(len(result))):
            return list(result.values()), cursor + 1
        return result, cursor + 1

    def _key(self, pos: int) -> tuple[int | str, int]:
        if match := _INT.match(self.data, pos):
            return self._int(match[1], pos), match.end()
        if self.data.startswith(b"s:", pos):
            text, end = self._string(pos)
            return php_array_key(text), end
        raise ValueError(f"array key at byte {pos} is neither an integer nor a string")
