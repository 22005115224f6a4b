"""Version strings compared the way PHP's version_compare() does, as WordPress and EDD do."""

from __future__ import annotations

import re
from functools import lru_cache

# version_compare's order of special forms; a number outranks all but "pl"/"p".
_SPECIAL = {"dev": 0, "alpha": 1, "a": 1, "beta": 2, "b": 2, "rc": 3, "#": 4, "pl": 5, "p": 5}
_NUMBER = 4
# What version_compare() orders sensibly: a digit first, then parts joined by . + _ or -.
_WELL_FORMED = re.compile(r"[0-9][0-9A-Za-z]*(?:[.+_-][0-9A-Za-z]+)*")


def version_well_formed(version: str) -> bool:
    """Whether `version` is a version number a release may carry (or require of WordPress/PHP).

    The one rule for what a version looks like; a published zip's `Version:`, `Requires at
    least:`, `Tested up to:` and `Requires PHP:` are checked with it.
    """
    return _WELL_FORMED.fullmatch(version) is not None


@lru_cache(maxsize=4096)
def version_key(version: str) -> tuple[tuple[int, int], ...]:
    """Return a sort key: canonicalise like PHP (separators, digit/letter boundaries)."""
    text = re.sub(r"[-_+]", ".", version.strip().lower())
    text = re.sub(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)", ".", text)
    parts: list[tuple[int, int]] = []
    for part in filter(None, text.split(".")):
        if part.isascii() and part.isdigit():  # int() refuses some Unicode digits ("²")
            parts.append((_NUMBER, int(part)))
        else:
            # An unknown word sorts below "dev", as in PHP.
            parts.append((_SPECIAL.get(part, -1), 0))
    return tuple(parts)


def version_compare(a: str, b: str) -> int:
    """Return -1, 0 or 1 like PHP's version_compare($a, $b)."""
    ka, kb = list(version_key(a)), list(version_key(b))
    # PHP pads the shorter version: a missing part compares as "#" against a special
    # form and as lower against a number ("1.0" < "1.0.1", "1.0" > "1.0rc1").
    for index in range(max(len(ka), len(kb))):
        pa = ka[index] if index < len(ka) else None
        pb = kb[index] if index < len(kb) else None
        if pa is None:
            pa = (_NUMBER, -1) if pb is not None and pb[0] == _NUMBER else (_NUMBER, 0)
        if pb is None:
            pb = (_NUMBER, -1) if pa[0] == _NUMBER else (_NUMBER, 0)
        if pa != pb:
            return -1 if pa < pb else 1
    return 0


def version_at_least(have: str, need: str) -> bool:
    """Whether `have` meets the minimum `need`; an unknown side never blocks."""
    if not have or not need:
        return True
    return version_compare(have, need) >= 0
