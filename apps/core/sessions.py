"""Sessions in the database with the cache in front, that keep working while the cache is down.

Django's cached_db backend reads through the cache but calls it unguarded when it creates,
reloads or deletes a session, so with Redis down a new visitor's first write (add to cart)
and every sign-in (which replaces the session key) answered 500. Here every cache call is
guarded: on an error the session is read from and written to the database alone, and the
error is logged (a real failure once per breaker window, see apps.core.cache; the calls the
breaker skips at debug level).

A write or delete that could not reach the cache leaves the old entry there, which would be
served again once Redis answers (a cart without the line added meanwhile, a signed-out
session signed in again). So this process remembers those keys and deletes them from the
cache before its next cache call succeeds, and never reads them from the cache until then.
Another process may still serve such an entry until this one has cleared it (its next
request that reaches Redis).

Synchronous paths only (Depot serves WSGI); the async methods stay Django's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.db import SessionStore as DBStore

from apps.core.cache import BreakerOpen

if TYPE_CHECKING:
    from django.contrib.sessions.models import Session
    from django.core.cache.backends.base import BaseCache

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Cache keys whose entry may be older than the database row; bounded so a long outage under
# heavy traffic cannot grow this process without limit (the oldest are forgotten first).
STALE_MAX = 10_000
_stale_lock = threading.Lock()
_stale: dict[str, None] = {}


def _stale_add(key: str) -> None:
    with _stale_lock:
        _stale[key] = None
        while len(_stale) > STALE_MAX:
            del _stale[next(iter(_stale))]


def _log(what: str, exc: Exception) -> None:
    if isinstance(exc, BreakerOpen):
        logger.debug("session cache %s skipped (Redis marked down), using the database", what)
    else:
        logger.warning("session cache %s failed, using the database: %s", what, exc)


class SessionStore(cached_db.SessionStore):
    """cached_db whose cache errors fall back to the database instead of failing the request."""

    if TYPE_CHECKING:  # Django's private members, which django-stubs leaves out
        _cache: BaseCache
        _session: dict[str, Any]

        def _get_session_from_db(self) -> Session | None: ...

    def _cached(self, what: str, call: Callable[[], T], default: T) -> T:
        """Run a cache call after clearing stale entries; on any cache error return `default`."""
        try:
            self._stale_clear()
            return call()
        except Exception as exc:
            _log(what, exc)
            return default

    def _stale_clear(self) -> None:
        if not _stale:
            return
        with _stale_lock:
            keys = list(_stale)
        self._cache.delete_many(keys)
        with _stale_lock:
            for key in keys:
                _stale.pop(key, None)

    def load(self) -> dict[str, Any]:
        key = self.cache_key
        data = self._cached("read", lambda: self._cache.get(key), None)
        if key in _stale:  # the clearing above failed: the cache may hold an older copy
            data = None
        if data is None:
            stored = self._get_session_from_db()
            if stored is None:
                return {}
            data = self.decode(stored.session_data)
            age = self.get_expiry_age(expiry=stored.expire_date)
            self._cached("write", lambda: self._cache.set(key, data, age), None)
        return data

    def exists(self, session_key: str | None) -> bool:
        if not session_key:
            return False
        key = self.cache_key_prefix + session_key
        cached = self._cached("read", lambda: key in self._cache and key not in _stale, False)
        return cached or DBStore.exists(self, session_key)

    def save(self, must_create: bool = False) -> None:
        DBStore.save(self, must_create)
        key = self.cache_key
        session, age = self._session, self.get_expiry_age()

        def write() -> bool:
            self._cache.set(key, session, age)
            return True

        if not self._cached("write", write, False):
            _stale_add(key)

    def delete(self, session_key: str | None = None) -> None:
        DBStore.delete(self, session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        key = self.cache_key_prefix + session_key
        if not self._cached("delete", lambda: self._cache.delete(key) or True, False):
            _stale_add(key)
