"""PHP serialize() format: exact bytes, strict parsing, and agreement with a reference encoder.

Every expected string below was produced by PHP 8.2's own serialize() (serialize_precision=-1,
the default since PHP 7.1). The reference encoder is the PyPI package phpserialize, an
independent implementation; it predates PHP 7.1 and differs from PHP 8 in a few known places,
which test_reference_encoder_differs_from_php_only_where_known pins down.
"""

from __future__ import annotations

import math
import random
import struct
import sys
from decimal import Decimal
from typing import Any

import phpserialize
import pytest

from apps.updates.delivery.php import MAX_DEPTH, php_array_key, php_serialize
from tests.updates.wordpress_side import php_unserialize

EDD_SECTIONS = {
    "description": "<p>Adds a <strong>bücher</strong> widget.</p>",
    "changelog": '<h4>1.2.3</h4>\n<ul><li>Fix: "quotes"; {braces}</li></ul>',
}
EDD_SECTIONS_SERIALIZED = (
    'a:2:{s:11:"description";s:46:"<p>Adds a <strong>bücher</strong> widget.</p>";'
    's:9:"changelog";s:56:"<h4>1.2.3</h4>\n<ul><li>Fix: "quotes"; {braces}</li></ul>";}'
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "N;"),
        (True, "b:1;"),
        (False, "b:0;"),
        (0, "i:0;"),
        (5, "i:5;"),
        (-42, "i:-42;"),
        (2**63 - 1, "i:9223372036854775807;"),
        (-(2**63), "i:-9223372036854775808;"),
        ("", 's:0:"";'),
        ("plain", 's:5:"plain";'),
        ("bücher", 's:7:"bücher";'),
        ("😀", 's:4:"😀";'),
        ("日本語", 's:9:"日本語";'),
        ('a\0b"c;', 's:6:"a\0b"c;";'),
        ("line\nbreak", 's:10:"line\nbreak";'),
        ([], "a:0:{}"),
        ({}, "a:0:{}"),
        (["a", "b"], 'a:2:{i:0;s:1:"a";i:1;s:1:"b";}'),
        (("a", "b"), 'a:2:{i:0;s:1:"a";i:1;s:1:"b";}'),
        (
            [[1, [2, []]]],
            "a:1:{i:0;a:2:{i:0;i:1;i:1;a:2:{i:0;i:2;i:1;a:0:{}}}}",
        ),
        (
            {0: [1, [2, []]], "k": None, 7: True, -3: False, "x": -1.5},
            'a:5:{i:0;a:2:{i:0;i:1;i:1;a:2:{i:0;i:2;i:1;a:0:{}}}s:1:"k";N;i:7;b:1;i:-3;b:0;'
            's:1:"x";d:-1.5;}',
        ),
        (EDD_SECTIONS, EDD_SECTIONS_SERIALIZED),
        (
            {
                "low": "https://cdn.example.com/banner-772x250.png",
                "high": "https://cdn.example.com/banner-1544x500.png",
            },
            'a:2:{s:3:"low";s:42:"https://cdn.example.com/banner-772x250.png";'
            's:4:"high";s:43:"https://cdn.example.com/banner-1544x500.png";}',
        ),
        (
            {
                "1x": "https://e.com/icon-128x128.png",
                "2x": "https://e.com/icon-256x256.png",
                "svg": "https://e.com/icon.svg",
            },
            'a:3:{s:2:"1x";s:30:"https://e.com/icon-128x128.png";'
            's:2:"2x";s:30:"https://e.com/icon-256x256.png";s:3:"svg";s:22:"https://e.com/icon.svg";}',
        ),
    ],
)
def test_serialize_writes_what_php_writes(value: object, expected: str) -> None:
    # Given a value of the supported subset; when serialized; then it is PHP's exact text.
    assert php_serialize(value) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1.0, "d:1;"),
        (0.0, "d:0;"),
        (-0.0, "d:-0;"),
        (0.1, "d:0.1;"),
        (-1.5, "d:-1.5;"),
        (123.456, "d:123.456;"),
        (0.30000000000000004, "d:0.30000000000000004;"),
        (1e15, "d:1000000000000000;"),
        (1e16, "d:10000000000000000;"),
        (9007199254740993.0, "d:9007199254740992;"),
        (1e17, "d:1.0E+17;"),
        (1e21, "d:1.0E+21;"),
        (12345678901234567890.0, "d:1.2345678901234567E+19;"),
        (1e-4, "d:0.0001;"),
        (1e-5, "d:1.0E-5;"),
        (1.5e-7, "d:1.5E-7;"),
        (5e-324, "d:5.0E-324;"),
        (1.7976931348623157e308, "d:1.7976931348623157E+308;"),
        (math.inf, "d:INF;"),
        (-math.inf, "d:-INF;"),
        (math.nan, "d:NAN;"),
        (-math.nan, "d:NAN;"),
    ],
)
def test_serialize_writes_floats_as_php_8_does(number: float, expected: str) -> None:
    # Given a float; when serialized; then the digits and layout are PHP 8's.
    assert php_serialize(number) == expected


@pytest.mark.parametrize(
    ("key", "php_key"),
    [
        ("5", 5),
        ("-5", -5),
        ("0", 0),
        ("9223372036854775807", 9223372036854775807),
        ("-9223372036854775808", -9223372036854775808),
        ("05", "05"),
        ("00", "00"),
        ("-0", "-0"),
        ("+5", "+5"),
        (" 5", " 5"),
        ("5 ", "5 "),
        ("1.5", "1.5"),
        ("", ""),
        ("9223372036854775808", "9223372036854775808"),
        ("-9223372036854775809", "-9223372036854775809"),
        ("\u0665", "\u0665"),  # an Arabic-Indic digit five: a digit to Python, not to PHP
        ("5\n", "5\n"),
    ],
)
def test_numeric_string_keys_become_integers_as_in_php(key: str, php_key: int | str) -> None:
    # Given a string array key; when serialized; then PHP's key conversion applies.
    expected_key = f"i:{php_key};" if isinstance(php_key, int) else php_serialize(php_key)

    assert php_array_key(key) == php_key
    assert php_serialize({key: 1}) == f"a:1:{{{expected_key}i:1;}}"


@pytest.mark.parametrize(
    "value",
    [
        object(),
        b"bytes",
        bytearray(b"x"),
        Decimal("1.5"),
        {1, 2},
        frozenset(),
        1j,
        [object()],
        {"nested": {"deeper": b"bytes"}},
        {1.5: "float key"},
        {True: "bool key"},
        {None: "None key"},
        {(1, 2): "tuple key"},
    ],
)
def test_serialize_refuses_types_php_arrays_cannot_hold(value: object) -> None:
    # Given a value outside the supported subset; when serialized; then TypeError.
    with pytest.raises(TypeError):
        php_serialize(value)


def test_serialize_refuses_integers_beyond_64_bits() -> None:
    # Given integers PHP cannot represent; when serialized; then ValueError.
    for value in (2**63, -(2**63) - 1, [2**64], {2**63: "x"}):
        with pytest.raises(ValueError, match="64-bit"):
            php_serialize(value)


def test_serialize_refuses_keys_that_collide_in_php() -> None:
    # Given "5" and 5, which are the same PHP key; when serialized; then ValueError, no data loss.
    with pytest.raises(ValueError, match="same PHP array key"):
        php_serialize({"5": "a", 5: "b"})


def test_serialize_refuses_circular_and_absurdly_deep_arrays() -> None:
    # Given a list that contains itself, and one nested past the limit; then ValueError.
    circular: list[object] = []
    circular.append(circular)
    deep: list[object] = []
    for _ in range(MAX_DEPTH):
        deep = [deep]

    with pytest.raises(ValueError, match="nested"):
        php_serialize(circular)
    with pytest.raises(ValueError, match="nested"):
        php_serialize(deep)


def test_serialize_refuses_strings_that_are_not_unicode_text() -> None:
    # Given a lone surrogate, which has no UTF-8 form; then ValueError (UnicodeEncodeError).
    with pytest.raises(ValueError):
        php_serialize("\ud800")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("N;", None),
        ("b:1;", True),
        ("b:0;", False),
        ("i:5;", 5),
        ("i:-5;", -5),
        ("i:+5;", 5),
        ("i:007;", 7),
        ("i:9223372036854775807;", 2**63 - 1),
        ("i:-9223372036854775808;", -(2**63)),
        ("d:1;", 1.0),
        ("d:0.1;", 0.1),
        ("d:.5;", 0.5),
        ("d:5.;", 5.0),
        ("d:1e5;", 100000.0),
        ("d:1.0E+25;", 1e25),
        ("d:1.5E-7;", 1.5e-7),
        ("d:INF;", math.inf),
        ("d:-INF;", -math.inf),
        ('s:7:"bücher";', "bücher"),
        ('s:4:"😀";', "😀"),
        ('s:6:"a\0b"c;";', 'a\0b"c;'),
        ('s:01:"a";', "a"),
        ("a:0:{}", []),
        ('a:2:{i:0;s:1:"a";i:1;s:1:"b";}', ["a", "b"]),
        # Keys 0..n-1 out of order are not a list: PHP's array_is_list() says no too.
        ('a:2:{i:1;s:1:"b";i:0;s:1:"a";}', {1: "b", 0: "a"}),
        ('a:1:{i:1;s:1:"b";}', {1: "b"}),
        ('a:1:{s:1:"5";i:1;}', {5: 1}),
        ('a:1:{s:2:"05";i:1;}', {"05": 1}),
        ('a:2:{s:1:"0";s:1:"a";s:1:"1";s:1:"b";}', ["a", "b"]),
        # A repeated key overwrites, as PHP's unserialize() does.
        ("a:2:{i:0;i:1;i:0;i:2;}", [2]),
        (EDD_SECTIONS_SERIALIZED, EDD_SECTIONS),
    ],
)
def test_unserialize_reads_what_php_reads(text: str, expected: object) -> None:
    # Given PHP-serialized text; when parsed; then the Python value PHP's array would map to.
    result = php_unserialize(text)

    assert result == expected
    assert type(result) is type(expected)


def test_unserialize_keeps_the_sign_of_zero_and_reads_nan() -> None:
    # Given -0.0 and NAN, which == cannot check; then the sign and NaN survive.
    assert math.copysign(1.0, php_unserialize("d:-0;")) == -1.0  # type: ignore[arg-type]
    assert math.isnan(php_unserialize("d:NAN;"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "N",
        "n;",
        "N; ",
        " N;",
        "i:5;junk",
        "i:5;i:6;",
        "i:;",
        "i:5",
        "i:5.0;",
        "i:0x1A;",
        "i:9223372036854775808;",
        "i:-9223372036854775809;",
        "i:1_000;",
        "i:\u0665;",
        "b:2;",
        "b:01;",
        "b:;",
        "d:;",
        "d:inf;",
        "d:+INF;",
        "d:-NAN;",
        "d:1e;",
        "d:.;",
        "d:1_0;",
        "d: 1;",
        's:5:"abc";',
        's:2:"abc";',
        's:3:"abc"',
        's:3:"abc;',
        "s:3:abc;",
        's:-1:"";',
        's:3:"ab',
        's:99999999999:"a";',
        's:1:"ü";',  # one byte of a two-byte character
        'S:1:"a";',
        "a:1:{}",
        "a:0:{i:0;i:1;}",
        "a:1:{i:0;i:1;",
        "a:1:{i:0;}",
        "a:-1:{}",
        "a:1:{N;i:1;}",
        "a:1:{b:1;i:1;}",
        "a:1:{d:1.5;i:1;}",
        "a:1:{a:0:{}i:1;}",
        "a:99999999:{i:0;i:1;}",
        "a:0:{}}",
        'O:8:"stdClass":0:{}',
        'C:11:"ArrayObject":0:{}',
        'E:11:"Suit:Hearts";',
        "a:2:{i:0;i:1;i:1;r:2;}",
        "a:2:{i:0;i:1;i:1;R:2;}",
        "x:1;",
    ],
)
def test_unserialize_refuses_malformed_input_with_value_error(text: str) -> None:
    # Given malformed or unsupported text; when parsed; then ValueError and nothing else.
    with pytest.raises(ValueError):
        php_unserialize(text)


def test_unserialize_refuses_every_truncation_of_a_valid_payload() -> None:
    # Given each strict prefix of a valid nested payload; then each is a ValueError, never an
    # IndexError or a partial value.
    text = php_serialize({"sections": EDD_SECTIONS, "n": [1, -2.5, None, True, "😀"]})

    for cut in range(len(text)):
        with pytest.raises(ValueError):
            php_unserialize(text[:cut])


def test_unserialize_refuses_absurdly_deep_nesting_without_recursion_error() -> None:
    # Given arrays nested past the limit (and past Python's stack); then ValueError.
    for levels in (MAX_DEPTH + 1, sys.getrecursionlimit() * 2):
        with pytest.raises(ValueError, match="nested"):
            php_unserialize("a:1:{i:0;" * levels + "N;" + "}" * levels)


def test_unserialize_reads_the_deepest_nesting_it_allows() -> None:
    # Given arrays nested exactly to the limit; then they parse.
    text = "a:1:{i:0;" * MAX_DEPTH + "N;" + "}" * MAX_DEPTH

    assert php_serialize(php_unserialize(text)) == text


# --- agreement with the reference encoder (phpserialize) -----------------------------------


@pytest.mark.parametrize(
    ("value", "reference", "php"),
    [
        # phpserialize writes floats with Python's str(); PHP 7.1+ drops ".0" and spells
        # exponents, infinities and NaN its own way.
        (1.0, b"d:1.0;", "d:1;"),
        (1e16, b"d:1e+16;", "d:10000000000000000;"),
        (1e-5, b"d:1e-05;", "d:1.0E-5;"),
        (math.inf, b"d:inf;", "d:INF;"),
        (math.nan, b"d:nan;", "d:NAN;"),
        # phpserialize keeps "5" a string key; PHP stores it as the integer key 5.
        ({"5": "x"}, b'a:1:{s:1:"5";s:1:"x";}', 'a:1:{i:5;s:1:"x";}'),
    ],
)
def test_reference_encoder_differs_from_php_only_where_known(
    value: object, reference: bytes, php: str
) -> None:
    # Given the cases the reference gets wrong for PHP 8; then it still does, and we do not.
    assert phpserialize.dumps(value) == reference
    assert php_serialize(value) == php


REFERENCE_CASES: list[object] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2**63 - 1,
    -(2**63),
    0.5,
    -0.25,
    0.1,
    3.141592653589793,
    123456.789,
    0.0001,
    "",
    "ascii",
    "bücher",
    "😀 emoji 👩‍💻",
    "日本語のテキスト",
    'quotes " and ; and } and \\',
    "\0\r\n\t",
    [],
    [1, 2, 3],
    ("tuple", 1),
    {"a": 1, "b": [True, None]},
    {10: "x", -3: "y", "k": "z"},
    EDD_SECTIONS,
    {"sections": EDD_SECTIONS, "banners": {"low": "l.png", "high": "h.png"}},
    [[[[["deep"]]]]],
]


@pytest.mark.parametrize("value", REFERENCE_CASES, ids=repr)
def test_serialize_matches_the_reference_encoder(value: object) -> None:
    # Given a value where phpserialize follows PHP 8; then the bytes are identical.
    assert php_serialize(value).encode("utf-8") == phpserialize.dumps(value)


@pytest.mark.parametrize("value", REFERENCE_CASES, ids=repr)
def test_reference_decoder_reads_back_what_we_write(value: object) -> None:
    # Given our output; when phpserialize parses it; then it holds the same PHP array.
    decoded = phpserialize.loads(php_serialize(value).encode("utf-8"), decode_strings=True)

    assert decoded == _as_php_arrays(value)


def test_random_values_agree_with_the_reference_and_round_trip() -> None:
    # Given many seeded random nested values; then phpserialize writes the same bytes (floats
    # kept where its str() equals PHP's layout), reads back the same arrays, and our own parser
    # returns the value as PHP would hold it.
    rng = random.Random(20240611)

    for _ in range(500):
        value = _random_value(rng, depth=0, reference_safe=True)
        text = php_serialize(value)

        assert text.encode("utf-8") == phpserialize.dumps(_with_php_keys(value)), value
        assert phpserialize.loads(text.encode("utf-8"), decode_strings=True) == _as_php_arrays(
            value
        )
        assert php_unserialize(text) == _as_php_values(value)


def test_random_values_with_any_float_round_trip() -> None:
    # Given random values with floats of every magnitude (where phpserialize's layout differs
    # from PHP's); then our writer and parser still round-trip them bit for bit.
    rng = random.Random(7)

    for _ in range(500):
        value = _random_value(rng, depth=0, reference_safe=False)
        text = php_serialize(value)

        assert php_unserialize(text) == _as_php_values(value)
        assert php_serialize(php_unserialize(text)) == text


# --- helpers ---------------------------------------------------------------------------------

_ALPHABET = "ab zAZ09\"';:{}\\\n\0üé€ß日本😀👩‍💻"


def _random_string(rng: random.Random) -> str:
    if rng.random() < 0.2:
        # Any code point but the surrogates, which have no UTF-8 form.
        return "".join(
            chr(rng.choice([rng.randrange(0xD800), rng.randrange(0xE000, 0x110000)]))
            for _ in range(rng.randrange(6))
        )
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(12)))


def _random_float(rng: random.Random, reference_safe: bool) -> float:
    if reference_safe:
        # Where Python's str() and PHP's layout agree: finite, not integral, 1e-4 <= |x| < 1e16.
        while True:
            number = rng.uniform(-1e6, 1e6) * 10 ** rng.randrange(-4, 9)
            if 1e-4 <= abs(number) < 1e16 and not number.is_integer():
                return number
    if rng.random() < 0.2:
        return rng.choice([5e-324, 1.7976931348623157e308, 1.0, -0.0, 1e16, 1e17, 1e-5, 0.1])
    # Any bit pattern: every exponent and subnormals, which a uniform draw never reaches.
    (number,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
    return float(number) if math.isfinite(number) else rng.random()


def _random_key(rng: random.Random) -> int | str:
    choice = rng.randrange(4)
    if choice == 0:
        return rng.randrange(-(2**63), 2**63)
    if choice == 1:
        return rng.randrange(-5, 20)
    if choice == 2:
        return str(rng.randrange(-50, 50))  # numeric strings PHP turns into ints
    return _random_string(rng)


def _random_value(rng: random.Random, depth: int, reference_safe: bool) -> object:
    kinds = ["none", "bool", "int", "float", "str", "str"]
    if depth < 4:
        kinds += ["list", "dict", "dict"]
    kind = rng.choice(kinds)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([rng.randrange(-(2**63), 2**63), rng.randrange(-1000, 1000)])
    if kind == "float":
        return _random_float(rng, reference_safe)
    if kind == "str":
        return _random_string(rng)
    if kind == "list":
        return [_random_value(rng, depth + 1, reference_safe) for _ in range(rng.randrange(5))]
    result: dict[int | str, object] = {}
    seen: set[int | str] = set()
    for _ in range(rng.randrange(5)):
        key = _random_key(rng)
        if php_array_key(key) not in seen:  # "5" and 5 would be one PHP key
            seen.add(php_array_key(key))
            result[key] = _random_value(rng, depth + 1, reference_safe)
    return result


def _with_php_keys(value: object) -> Any:
    """Convert keys as PHP does on array creation (`["5" => 1]` holds the key 5)."""
    if isinstance(value, dict):
        return {php_array_key(k): _with_php_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_with_php_keys(v) for v in value]
    return value


def _as_php_arrays(value: object) -> Any:
    """Return what phpserialize.loads() gives back: every array a dict with PHP's keys."""
    if isinstance(value, dict):
        return {php_array_key(k): _as_php_arrays(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return {i: _as_php_arrays(v) for i, v in enumerate(value)}
    return value


def _as_php_values(value: object) -> Any:
    """Return what php_unserialize() gives back: lists where array_is_list() holds."""
    if isinstance(value, dict | list | tuple):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        array = {php_array_key(k): _as_php_values(v) for k, v in items}
        if list(array) == list(range(len(array))):
            return list(array.values())
        return array
    return value
