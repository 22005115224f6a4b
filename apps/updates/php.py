"""PHP's `serialize()` format, for the fields EDD Software Licensing sends as serialized strings.

EDD's `get_version` answers `sections`, `banners` and `icons` as `serialize()`d arrays, and
the EDD updater on the WordPress side runs `maybe_unserialize()` on them, so the bytes must be
what PHP 7.1+ itself would write. Only the scalar and array subset is supported: objects and
references (`O:`, `C:`, `E:`, `r:`, `R:`) can run code on the receiving side and have no use here.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import TypeAlias

PhpValue: TypeAlias = "bool | int | float | str | list[PhpValue] | dict[int | str, PhpValue] | None"

PHP_INT_MAX = 2**63 - 1
PHP_INT_MIN = -(2**63)

# PHP's own limit (unserialize_max_depth) is 4096; ours stays well inside Python's recursion
# limit, and no payload this project exchanges is more than a few levels deep.
MAX_DEPTH = 128

# PHP stores a string key that spells a canonical integer ("5", "-5", but not "05", "-0",
# "+5" or " 5") as an integer key (zend_hash.c, _zend_handle_numeric_str_ex).
_NUMERIC_KEY = re.compile(r"-?(?:0|[1-9][0-9]*)")

# Grammar of ext/standard/var_unserializer.re; [0-9] rather than \d, which takes any Unicode digit.
_NULL = re.compile(rb"N;")
_BOOL = re.compile(rb"b:([01]);")
_INT = re.compile(rb"i:([+-]?[0-9]+);")
_FLOAT = re.compile(rb"d:(NAN|-?INF|[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?);")
_STRING_HEAD = re.compile(rb's:([0-9]+):"')
_ARRAY_HEAD = re.compile(rb"a:([0-9]+):\{")


def php_serialize(value: object) -> str:
    """Return `value` as PHP 8's `serialize()` would write it."""
    out: list[str] = []
    _serialize_value(value, out, 0)
    return "".join(out)


def php_unserialize(text: str) -> PhpValue:
    """Parse one PHP-serialized value; raise ValueError unless `text` is exactly one."""
    # Lengths in the format count UTF-8 bytes, so parse the bytes, not the characters.
    data = text.encode("utf-8")
    value, end = _Parser(data).value(0, 0)
    if end != len(data):
        raise ValueError(f"unexpected data after the value at byte {end}")
    return value


def php_array_key(key: int | str) -> int | str:
    """Return `key` as PHP stores it in an array: canonical integer strings become ints."""
    if isinstance(key, str) and _NUMERIC_KEY.fullmatch(key):
        number = int(key)
        if PHP_INT_MIN <= number <= PHP_INT_MAX and key != "-0":
            return number
    return key


def php_float(number: float) -> str:
    """Return `number` as PHP 7.1+ prints it with serialize_precision=-1 (var_export, json)."""
    if math.isnan(number):
        return "NAN"
    if math.isinf(number):
        return "INF" if number > 0 else "-INF"
    sign = "-" if math.copysign(1.0, number) < 0 else ""
    if number == 0:
        return sign + "0"
    # repr() yields the shortest digits that round-trip, as zend_dtoa's mode 0 does: both are
    # David Gay's algorithm. Only the layout (zend_gcvt with 17 digits) differs from Python's.
    _, digit_tuple, exponent = Decimal(repr(abs(number))).as_tuple()
    assert isinstance(exponent, int)  # finite, so never the 'n'/'N'/'F' markers
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    point = len(digit_tuple) + exponent  # number == 0.<digits> * 10**point
    if point < -3 or point > 17:
        power = point - 1
        return f"{sign}{digits[0]}.{digits[1:] or '0'}E{'-' if power < 0 else '+'}{abs(power)}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    whole, fraction = digits[:point].ljust(point, "0"), digits[point:]
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def _serialize_value(value: object, out: list[str], depth: int) -> None:
    # bool before int: True is an int to Python, but PHP has a separate type for it.
    if value is None:
        out.append("N;")
    elif isinstance(value, bool):
        out.append("b:1;" if value else "b:0;")
    elif isinstance(value, int):
        out.append(f"i:{_php_int(value)};")
    elif isinstance(value, float):
        out.append(f"d:{php_float(float(value))};")
    elif isinstance(value, str):
        out.append(_serialize_string(value))
    elif isinstance(value, list | tuple | dict):
        if depth >= MAX_DEPTH:
            raise ValueError(f"arrays nested deeper than {MAX_DEPTH} levels (or circular)")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        out.append(f"a:{len(value)}:{{")
        seen: set[int | str] = set()
        for key, item in items:
            php_key = _array_key(key)
            # PHP would keep only the last of {"5": a, 5: b}; refuse rather than drop one.
            if php_key in seen:
                raise ValueError(f"keys {key!r} and {php_key!r} are the same PHP array key")
            seen.add(php_key)
            out.append(f"i:{php_key};" if isinstance(php_key, int) else _serialize_string(php_key))
            _serialize_value(item, out, depth + 1)
        out.append("}")
    else:
        raise TypeError(f"PHP serialize() has no form for {type(value).__name__}")


def _serialize_string(value: str) -> str:
    text = str(value)
    return f's:{len(text.encode("utf-8"))}:"{text}";'


def _array_key(key: object) -> int | str:
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise TypeError(f"PHP array keys are int or str, not {type(key).__name__}")
    return php_array_key(_php_int(key) if isinstance(key, int) else str(key))


def _php_int(value: int) -> int:
    number = int(value)
    if not PHP_INT_MIN <= number <= PHP_INT_MAX:
        # PHP has no such integer: it would have become a float long before serialize().
        raise ValueError(f"{number} is outside PHP's 64-bit integer range")
    return number


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
