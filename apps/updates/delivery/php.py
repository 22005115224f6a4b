"""PHP's `serialize()` format, for the fields EDD Software Licensing sends as serialized strings.

EDD's `get_version` answers `sections`, `banners` and `icons` as `serialize()`d arrays, and
the EDD updater on the WordPress side runs `maybe_unserialize()` on them, so the bytes must be
what PHP 7.1+ itself would write. Only the scalar and array subset is supported: objects and
references (`O:`, `C:`, `E:`, `r:`, `R:`) can run code on the receiving side and have no use here.
Depot only writes the format; the reader its tests check it with is in tests/updates.
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


def php_serialize(value: object) -> str:
    """Return `value` as PHP 8's `serialize()` would write it."""
    out: list[str] = []
    _serialize_value(value, out, 0)
    return "".join(out)


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
