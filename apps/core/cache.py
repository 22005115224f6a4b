"""A circuit breaker in front of Redis: a hung or dead Redis costs one timeout per window.

django-redis bounds each call by its socket timeouts (REDIS_TIMEOUT, 0.5 s), but a request
that touches the cache five times would still wait five timeouts, and so would every request
after it. `BreakerRedis` (the redis-py client django-redis builds, REDIS_CLIENT_CLASS in
config.settings.base.redis_cache) stops calling a Redis server for DEPOT_CACHE_BREAKER_SECONDS
after a connection error or timeout: calls fail at once with `BreakerOpen` (a redis-py
ConnectionError, so every caller's existing `except` takes it). When the window ends one call
tries again (others keep failing fast until it answers); its success closes the breaker.

The breaker is per process and per server, and covers every Redis call made through the
default cache's connections: Django's cache API (sessions, throttles, /readyz) and the raw
client that get_redis_connection() hands to the update API's hot path and statistics. Callers
keep their own failure modes: sessions go to the database (apps.core.sessions), throttles let
the request through, license changes answer 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from prometheus_client import Counter
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

T = TypeVar("T")

breaker_opened = Counter(
    "depot_redis_breaker_opened_total",
    "Times this process stopped calling Redis after a connection error or timeout.",
)
calls_skipped = Counter(
    "depot_redis_calls_skipped_total",
    "Redis calls this process failed at once because its breaker was open.",
)


class BreakerOpen(RedisConnectionError):
    """Redis failed recently; the call was not attempted."""


class Breaker:
    """One server's state in this process: closed (0.0) or open until a monotonic time."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._probing = False

    def call(self, operation: Callable[[], T]) -> T:
        """Run `operation` unless the breaker is open; open it when Redis fails."""
        probe = self._admit()
        answered = False
        try:
            result = operation()
            answered = True
            return result
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if not isinstance(exc, BreakerOpen):
                self._failed(exc)
            raise
        except RedisError:  # an error reply: the server is there
            answered = True
            raise
        finally:
            if answered and (probe or self._open_until):
                self._succeeded()
            elif probe:
                self._probe_ended()

    def is_open(self) -> bool:
        """True while calls are skipped (the window has not ended); nothing is counted."""
        return bool(self._open_until) and time.monotonic() < self._open_until

    def _admit(self) -> bool:
        """Return whether this call is the one probe of a window that ended; raise if open."""
        with self._lock:
            if not self._open_until:
                return False
            if time.monotonic() < self._open_until or self._probing:
                calls_skipped.inc()
                raise BreakerOpen(f"Redis at {self.address} skipped after a recent failure")
            self._probing = True
            return True

    def _failed(self, exc: Exception) -> None:
        seconds = float(getattr(settings, "DEPOT_CACHE_BREAKER_SECONDS", 10.0))
        with self._lock:
            was_open = bool(self._open_until)
            self._open_until = time.monotonic() + seconds
            self._probing = False
        breaker_opened.inc()
        logger.warning(
            "Redis at %s %s (%s); calls fail at once for %.0f s",
            self.address,
            "still unreachable" if was_open else "unreachable",
            exc,
            seconds,
        )

    def _probe_ended(self) -> None:
        # Interrupted without an answer either way: the next call may probe.
        with self._lock:
            self._probing = False

    def _succeeded(self) -> None:
        with self._lock:
            if not self._open_until:
                return
            self._open_until = 0.0
            self._probing = False
        logger.warning("Redis at %s answers again", self.address)


_breakers_lock = threading.Lock()
_breakers: dict[str, Breaker] = {}


def breaker_for(pool: Any) -> Breaker:
    """Return this process's breaker for the server behind a redis-py connection pool."""
    kwargs = pool.connection_kwargs
    address = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
    breaker = _breakers.get(address)
    if breaker is None:
        with _breakers_lock:
            breaker = _breakers.setdefault(address, Breaker(address))
    return breaker


class BreakerPipeline(Pipeline):
    """A pipeline whose round trip goes through the breaker (queuing commands does not)."""

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        if not self.command_stack and not self.watching:
            return []
        parent = super().execute
        return breaker_for(self.connection_pool).call(lambda: parent(raise_on_error))


class BreakerRedis(Redis):
    """redis-py's client with every command and pipeline behind the server's breaker."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        parent = super().execute_command
        return breaker_for(self.connection_pool).call(lambda: parent(*args, **options))

    def breaker_open(self) -> bool:
        """True while this server's breaker skips calls (for connections it does not cover)."""
        return breaker_for(self.connection_pool).is_open()

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> BreakerPipeline:
        return BreakerPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
