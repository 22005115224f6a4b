"""Parts of answers computed once per snapshot: while a product's snapshot is current, its
JSON and PHP-serialized fields are the same for every site, so they are built once.

Snapshots are held per process by (slug, generation) (delivery.hotcache): a new release or a
product change makes a new snapshot object, so values are kept by the identity of the
snapshot objects they were made from, and used only while those very objects are passed in.
Values of the clock (a token's second, today's date) are made once per period (`PerPeriod`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

SIZE = 4096


class ByIdentity:
    """Values made from some objects, kept while those same objects (not equal ones) are used."""

    def __init__(self, size: int = SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._values: OrderedDict[Hashable, tuple[tuple[Any, ...], Any]] = OrderedDict()

    def get(self, sources: tuple[Any, ...], extra: Hashable, make: Callable[[], T]) -> T:
        """Return make()'s value for these `sources` (by identity) and `extra` (by equality)."""
        key = (tuple(id(source) for source in sources), extra)
        held = self._values.get(key)
        if held is not None and all(a is b for a, b in zip(held[0], sources, strict=True)):
            return held[1]
        value = make()
        with self._lock:
            self._values[key] = (sources, value)
            if len(self._values) > self._size:
                self._values.popitem(last=False)
        return value


class PerPeriod(Generic[T]):
    """make(n) for the current period n = time.time() // seconds, made once per period."""

    def __init__(self, seconds: int, make: Callable[[int], T]) -> None:
        self._seconds = seconds
        self._make = make
        self._held: tuple[int, T] | None = None

    def __call__(self) -> T:
        period = int(time.time() // self._seconds)
        held = self._held  # one tuple, replaced whole: safe to read from any thread
        if held is None or held[0] != period:
            held = self._held = (period, self._make(period))
        return held[1]
