"""The update API's hot-path cache: one Redis round trip per warm check, no SQL.

Three kinds of entries, all JSON under the ``depot:upd:`` prefix:

- ``gen:<slug>``: the product's metadata generation, a random token replaced whenever a
  release or the product changes (after commit). A token is never reused, so a snapshot
  held under an old token can never be mistaken for the current one.
- ``meta:<slug>:<gen>``: the product's metadata snapshot for that generation. Each process
  also keeps snapshots in memory by (slug, gen), so a warm check reads only the token.
- ``lic:<key hash>``: a license's state (apps.licenses.selectors.LicenseState), ``"0"``
  for an unknown key (cached negatively), or a tombstone ``"-<token>"`` written after every
  change. A reader that found nothing caches what it read only if nothing is there yet (SET
  NX), so a reader that loaded the old state before the change cannot store it over the
  tombstone; a reader that found a tombstone read the database after the change and swaps
  its state in only if that same tombstone is still there (compare-and-set).

- ``products``: the directory of active products (apps.updates.delivery.snapshots.ProductDirectory),
  tombstoned like a license state whenever a product changes, and kept for a few seconds in
  each process. A check names every plugin a site has installed: the slugs that are not ours
  are dropped against the directory before anything else, so they cost no query and leave no
  key behind.
- ``rate:<bucket>:<ip>``: a client address's requests in the current minute.

Every TTL written here is spread by ±TTL_SPREAD (`ttl_jittered`), so entries filled together
(a cold start, a publish that every process answers at once) do not all expire together. A
miss is refilled once per key and process: concurrent misses of one key wait for the first
loader (`SingleFlight`), which looks at the cache once more before it reads the database.
A result is shared only where it cannot hide a change: a license state or the directory
among readers that found the same thing in the cache (nothing, or the same tombstone), a
snapshot among readers of the same generation. Not across processes: the updates
role runs one thread per process, so a cold key costs one read per process (a few queries
by index, tens of processes); a Redis lease would add a round trip to every miss and park
the losing workers while they poll, to save reads the database does not notice.

Each process keeps a copy of the generations, license states and directory it read, kept exact
by invalidations pushed over pub/sub (delivery.nearcache): a warm check then sends nothing, and
its request counter and install statistics go out in a once-a-second pipeline. Without that
channel a check sends one pipeline: MGET of the generations and license states it needs, the
client address's request counter, and the install-statistics counters (a process whose copy
of the directory is older than a few seconds reads it first). With Redis unreachable the
caller falls back to the database (update checks fail open, and are not counted); a short
circuit breaker keeps a dead Redis from costing a timeout per request.

On the embedded default (no Redis) the same entries live in Django's default cache.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.cache import caches
from django.db import transaction

from apps.updates.delivery.nearcache import NearCache, near_cache, near_current, near_reset

logger = logging.getLogger(__name__)

PREFIX = "depot:upd:"
NEGATIVE = "0"
TOMBSTONE_PREFIX = "-"
META_TTL = 24 * 3600
LICENSE_TTL = 24 * 3600
NEGATIVE_TTL = 10 * 60
TOMBSTONE_TTL = LICENSE_TTL
# Replace KEYS[1] with ARGV[2] (for ARGV[3] seconds) only if it still holds ARGV[1].
_SWAP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 0
"""
BREAKER_SECONDS = 5.0
LOCAL_SNAPSHOTS = 1024
# A generation outlives any snapshot under it; when it expires the next check starts a new
# one (a cold read), so slugs that are not ours (a native batch names every installed
# plugin) do not leave keys behind for good.
GEN_TTL = 2 * META_TTL
# Without Redis there is no generation to compare against: hold snapshots this long.
LOCAL_TTL_WITHOUT_REDIS = 5.0
DIRECTORY_KEY = f"{PREFIX}products"
# How long each process trusts its copy of the directory: a new product is answered by
# every process this soon after it is saved.
DIRECTORY_LOCAL_TTL = 5.0
# A change missed while Redis was down (or a product deleted in the admin) heals this soon.
DIRECTORY_TTL = 5 * 60
# Each TTL above is written as TTL * (1 ± TTL_SPREAD), drawn at random per write.
TTL_SPREAD = 0.1
# How long a miss waits for another thread loading the same key before reading it itself.
FLIGHT_WAIT = 2.0

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def ttl_jittered(ttl: int) -> int:
    """Return `ttl` spread at random by ±TTL_SPREAD, so entries filled together expire apart."""
    spread = int(ttl * TTL_SPREAD)
    return ttl + random.randint(-spread, spread)


class _Flight:
    __slots__ = ("done", "ok", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False
        self.value: Any = None


class SingleFlight:
    """Loads of the same key in this process at the same time: the first loads, the rest wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Flight] = {}

    def load_many(self, keys: Sequence[K], fill: Callable[[list[K]], dict[K, T]]) -> dict[K, T]:
        """Return fill()'s values for `keys`, calling it only for keys no other thread is loading.

        The keys another thread is loading are waited for (FLIGHT_WAIT at most); if that thread
        fails or is too slow, they are filled here after all: a miss never hangs or fails
        because of another request.
        """
        mine: dict[K, _Flight] = {}
        theirs: dict[K, _Flight] = {}
        with self._lock:
            for key in keys:
                flight = self._flights.get(key)
                if flight is None:
                    mine[key] = self._flights[key] = _Flight()
                else:
                    theirs[key] = flight
        values: dict[K, T] = {}
        if mine:
            try:
                values = fill(list(mine))
            finally:
                self._settle(mine, values)
        late = []
        for key, flight in theirs.items():
            if flight.done.wait(FLIGHT_WAIT) and flight.ok:
                values[key] = flight.value
            else:
                late.append(key)
        if late:
            values.update(fill(late))
        return values

    def load(self, key: Hashable, fill: Callable[[], T]) -> T:
        """Return fill()'s value for `key`, shared with the threads missing it at the same time."""
        return self.load_many([key], lambda _: {key: fill()})[key]

    def _settle(self, mine: dict[K, _Flight], values: dict[K, Any]) -> None:
        with self._lock:
            for key, flight in mine.items():
                if self._flights.get(key) is flight:
                    del self._flights[key]
        for key, flight in mine.items():
            if key in values:
                flight.value, flight.ok = values[key], True
            flight.done.set()


_flights = SingleFlight()


class Unavailable(Exception):
    """The cache could not be reached; the caller answers from the database."""


def gen_key(slug: str) -> str:
    return f"{PREFIX}gen:{slug}"


def meta_key(slug: str, gen: str) -> str:
    return f"{PREFIX}meta:{slug}:{gen}"


def license_key(key_hash: str) -> str:
    return f"{PREFIX}lic:{key_hash}"


def rate_key(bucket: str, ip: str) -> str:
    return f"{PREFIX}rate:{bucket}:{ip}"


@dataclass(frozen=True)
class Quota:
    """A client address's allowance: `limit` requests per `window` seconds in `bucket`."""

    bucket: str
    ip: str
    limit: int
    window: int = 60


class RateLimited(Exception):
    """The client address is over its quota; it may ask again in `wait` seconds."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"rate limited for {wait}s")
        self.wait = wait


StatsWriter = Callable[[Any], None]


class _RedisStore:
    """Raw redis-py access through django-redis's connection pool (JSON, no pickling)."""

    def __init__(self) -> None:
        self._down_until = 0.0

    def _client(self) -> Any:
        if time.monotonic() < self._down_until:
            raise Unavailable("redis marked down")
        from django_redis import get_redis_connection

        return get_redis_connection("default")

    def _failed(self, exc: Exception) -> Unavailable:
        from apps.core.cache import BreakerOpen

        if isinstance(exc, BreakerOpen):
            # Skipped by the process-wide breaker (apps.core.cache), which already counted
            # the failure and tries Redis again when its window ends: re-arming this one too
            # would keep the update cache off for up to BREAKER_SECONDS after Redis is back.
            return Unavailable(str(exc))
        self._down_until = time.monotonic() + BREAKER_SECONDS
        logger.warning("update cache unreachable, using the database: %s", exc)
        return Unavailable(str(exc))

    def fetch(self, keys: Sequence[str], stats: StatsWriter | None) -> list[str | None]:
        return self.fetch_counted(keys, stats, None)[0]

    def fetch_counted(
        self, keys: Sequence[str], stats: StatsWriter | None, quota: Quota | None
    ) -> tuple[list[str | None], tuple[int, int] | None]:
        """MGET `keys` and count one request against `quota`, in one round trip.

        Returns the values and (requests so far, seconds left in the window), or None.
        """
        from redis.exceptions import RedisError

        try:
            pipe = self._client().pipeline(transaction=False)
            if keys:
                pipe.mget(list(keys))
            if quota is not None:
                _hit_queue(pipe, rate_key(quota.bucket, quota.ip), quota.window)
            if stats is not None:
                stats(pipe)
            replies = pipe.execute()
        except RedisError as exc:
            raise self._failed(exc) from exc
        values = replies.pop(0) if keys else []
        hit = (int(replies[1]), max(1, int(replies[2]))) if quota is not None else None
        return [v.decode() if isinstance(v, bytes) else v for v in values], hit

    def near(self) -> NearCache:
        held = near_current()
        if held is not None:
            return held
        from apps.updates.stats.installs import stats_batches_merge

        return near_cache(self._client, stats_batches_merge)

    def poll(self) -> bool:
        """Apply the changes announced so far; True when this process's copy may be used.

        Once per check, at its start: `fetch_near` and `directory_get` are then told the
        answer instead of polling again.
        """
        return time.monotonic() >= self._down_until and self.near().ready()

    def fetch_near(
        self,
        keys: Sequence[str],
        stats: StatsWriter | None,
        quota: Quota | None,
        *,
        polled: bool | None = None,
    ) -> tuple[list[str | None], tuple[int, int] | None]:
        """`fetch_counted` answered from this process's copy when the push channel is up.

        Only keys the copy lacks are read (one MGET, no counters); the request counter and
        the install statistics are queued for the once-a-second flush (delivery.nearcache).
        `polled` is what this check's `poll()` said (polled here when None).
        """
        near = self.near()
        if not (self.poll() if polled is None else polled):
            return self.fetch_counted(keys, stats, quota)
        epoch = near.epoch
        values = [near.get(key) for key in keys]
        if stats is not None:
            near.stats_add(stats)
        hit = near.hit(rate_key(quota.bucket, quota.ip), quota.window) if quota else None
        missing = [n for n, value in enumerate(values) if value is None]
        if missing:
            fetched = self.fetch([keys[n] for n in missing], None)
            for n, value in zip(missing, fetched, strict=True):
                values[n] = value
                if value is not None and not is_tombstone(value):
                    near.put(keys[n], value, epoch)
        return values, hit

    def changed(self, key: str, value: str, ttl: int) -> None:
        """Set `key` after a change and have every process drop its copy of it."""
        from redis.exceptions import RedisError

        if time.monotonic() < self._down_until:
            raise Unavailable("redis marked down")
        try:
            self.near().changed(key, value, ttl)
        except RedisError as exc:
            raise self._failed(exc) from exc

    def fill_many(self, entries: Sequence[tuple[str, str, int, str | None]]) -> None:
        """Cache values read from the database: (key, value, ttl, what the key held before).

        Nothing held: SET NX (a change's tombstone written since wins). A tombstone held:
        replaced only if it is still the same one. Anything else: left alone. One round trip.
        """
        from redis.exceptions import RedisError

        try:
            pipe = self._client().pipeline(transaction=False)
            for key, value, ttl, seen in entries:
                if seen is None:
                    pipe.set(key, value, ex=ttl, nx=True)
                elif is_tombstone(seen):
                    pipe.eval(_SWAP, 1, key, seen, value, ttl)
            pipe.execute()
        except RedisError as exc:
            raise self._failed(exc) from exc

    def get(self, key: str) -> str | None:
        return self.fetch([key], None)[0]

    def set(self, key: str, value: str, ttl: int | None, *, only_new: bool = False) -> bool:
        from redis.exceptions import RedisError

        try:
            return bool(self._client().set(key, value, ex=ttl, nx=only_new))
        except RedisError as exc:
            raise self._failed(exc) from exc

    def swap(self, key: str, expected: str, value: str, ttl: int) -> bool:
        from redis.exceptions import RedisError

        try:
            return bool(self._client().eval(_SWAP, 1, key, expected, value, ttl))
        except RedisError as exc:
            raise self._failed(exc) from exc

    def hit(self, key: str, window: int) -> tuple[int, int]:
        """Count one request in a fixed window; return (requests so far, seconds left)."""
        from redis.exceptions import RedisError

        # Counting needs no invalidations applied (the request's check polls for those), only
        # a live copy whose flusher sends the counts: no second poll per request.
        if time.monotonic() >= self._down_until:
            near = self.near()
            if near.counting:
                return near.hit(key, window)
        try:
            pipe = self._client().pipeline(transaction=False)
            _hit_queue(pipe, key, window)
            _, count, ttl = pipe.execute()
        except RedisError as exc:
            raise self._failed(exc) from exc
        return int(count), max(1, int(ttl))

    @property
    def stats_enabled(self) -> bool:
        return True


def _hit_queue(pipe: Any, key: str, window: int) -> None:
    # Three replies: the SET NX, the count so far, the seconds left in the window.
    pipe.set(key, 0, ex=window, nx=True)
    pipe.incr(key)
    pipe.ttl(key)


class _DjangoCacheStore:
    """The same entries in Django's default cache (local memory on the embedded default)."""

    def fetch(self, keys: Sequence[str], stats: StatsWriter | None) -> list[str | None]:
        found = caches["default"].get_many(list(keys))
        return [found.get(key) for key in keys]

    def fetch_counted(
        self, keys: Sequence[str], stats: StatsWriter | None, quota: Quota | None
    ) -> tuple[list[str | None], tuple[int, int] | None]:
        hit = None
        if quota is not None:
            hit = self.hit(rate_key(quota.bucket, quota.ip), quota.window)
        return self.fetch(keys, stats), hit

    def poll(self) -> bool:
        return False

    def fetch_near(
        self,
        keys: Sequence[str],
        stats: StatsWriter | None,
        quota: Quota | None,
        *,
        polled: bool | None = None,
    ) -> tuple[list[str | None], tuple[int, int] | None]:
        return self.fetch_counted(keys, stats, quota)

    def changed(self, key: str, value: str, ttl: int) -> None:
        self.set(key, value, ttl)

    def fill_many(self, entries: Sequence[tuple[str, str, int, str | None]]) -> None:
        for key, value, ttl, seen in entries:
            if seen is None:
                self.set(key, value, ttl, only_new=True)
            elif is_tombstone(seen):
                self.swap(key, seen, value, ttl)

    def get(self, key: str) -> str | None:
        value = caches["default"].get(key)
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str, ttl: int | None, *, only_new: bool = False) -> bool:
        if only_new:
            return bool(caches["default"].add(key, value, ttl))
        caches["default"].set(key, value, ttl)
        return True

    def swap(self, key: str, expected: str, value: str, ttl: int) -> bool:
        # One process, one thread per request: good enough for the embedded default.
        if caches["default"].get(key) != expected:
            return False
        caches["default"].set(key, value, ttl)
        return True

    def hit(self, key: str, window: int) -> tuple[int, int]:
        cache = caches["default"]
        cache.add(key, 0, window)
        try:
            return int(cache.incr(key)), window
        except ValueError:  # expired between add and incr
            cache.set(key, 1, window)
            return 1, window

    @property
    def stats_enabled(self) -> bool:
        return False


_store_lock = threading.Lock()
_store: _RedisStore | _DjangoCacheStore | None = None


def store() -> _RedisStore | _DjangoCacheStore:
    """Return the store for the configured default cache (chosen once per process)."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                from django_redis.cache import RedisCache

                is_redis = isinstance(caches["default"], RedisCache)
                _store = _RedisStore() if is_redis else _DjangoCacheStore()
    return _store


def counters_flush() -> None:
    """Send this process's queued request counters and install statistics now (else within
    a second; see delivery.nearcache)."""
    current = _store
    if isinstance(current, _RedisStore):
        current.near().flush()


def store_reset() -> None:
    """Forget the chosen store and what this process holds (after settings change in tests)."""
    global _store, _directory
    _store = None
    _local.clear()
    _directory = None
    near_reset()


# --- metadata snapshots ---------------------------------------------------------------

_local_lock = threading.Lock()
_local: OrderedDict[tuple[str, str], tuple[float, dict[str, Any] | None]] = OrderedDict()


def local_get(slug: str, gen: str, *, max_age: float | None = None) -> tuple[bool, Any]:
    """Return (found, snapshot) from this process's memory."""
    with _local_lock:
        entry = _local.get((slug, gen))
        if entry is None:
            return False, None
        stored_at, snapshot = entry
        if max_age is not None and time.monotonic() - stored_at > max_age:
            del _local[(slug, gen)]
            return False, None
        _local.move_to_end((slug, gen))
        return True, snapshot


def local_put(slug: str, gen: str, snapshot: dict[str, Any] | None) -> None:
    with _local_lock:
        _local[(slug, gen)] = (time.monotonic(), snapshot)
        _local.move_to_end((slug, gen))
        while len(_local) > LOCAL_SNAPSHOTS:
            _local.popitem(last=False)


def generation_ensure(slug: str) -> str:
    """Return the product's current generation, creating one if it has none (cold start)."""
    s = store()
    fresh = secrets.token_hex(8)
    if s.set(gen_key(slug), fresh, ttl_jittered(GEN_TTL), only_new=True):
        return fresh
    current = s.get(gen_key(slug))
    return current or fresh


def metadata_get(slug: str, gen: str) -> tuple[bool, Any]:
    """Return (found, snapshot) for a generation, from memory or the cache."""
    found, snapshot = local_get(slug, gen)
    if found:
        return True, snapshot
    raw = store().get(meta_key(slug, gen))
    if raw is None:
        return False, None
    snapshot = json.loads(raw)
    local_put(slug, gen, snapshot)
    return True, snapshot


def metadata_put(slug: str, gen: str, snapshot: dict[str, Any] | None) -> None:
    """Store a snapshot read from the database under the generation read before it."""
    local_put(slug, gen, snapshot)
    with contextlib.suppress(Unavailable):
        store().set(meta_key(slug, gen), json.dumps(snapshot), ttl_jittered(META_TTL))


Snapshot = dict[str, Any] | None


def metadata_fill(slug: str, gen: str, load: Callable[[], Snapshot]) -> Snapshot:
    """Return the snapshot for a generation the cache missed, loaded once in this process.

    Threads missing the same generation wait for the first; it looks in memory and the cache
    again (another thread or process may have filled it meanwhile) before calling load().
    """

    def fill() -> Snapshot:
        with contextlib.suppress(Unavailable):
            found, cached = metadata_get(slug, gen)
            if found:
                return cached
        snapshot = load()
        metadata_put(slug, gen, snapshot)
        return snapshot

    return _flights.load(("meta", slug, gen), fill)


def metadata_without_cache(slug: str, load: Callable[[], Snapshot]) -> Snapshot:
    """Return a snapshot with Redis down: this process's copy of the last few seconds, else load().

    Concurrent misses of one product share one load().
    """

    def fill() -> Snapshot:
        found, held = local_get(slug, "", max_age=LOCAL_TTL_WITHOUT_REDIS)
        if found:
            return held
        snapshot = load()
        local_put(slug, "", snapshot)
        return snapshot

    found, held = local_get(slug, "", max_age=LOCAL_TTL_WITHOUT_REDIS)
    return held if found else _flights.load(("local", slug), fill)


def metadata_bump(slug: str) -> None:
    """Start a new generation for `slug`: the next check reads the database again."""
    try:
        store().changed(gen_key(slug), secrets.token_hex(8), ttl_jittered(GEN_TTL))
    except Unavailable:
        # The old generation stays; fall back to a short in-process life for snapshots.
        logger.error("could not bump the metadata generation of %s", slug)
    with _local_lock:
        for key in [k for k in _local if k[0] == slug]:
            del _local[key]


def metadata_bump_on_commit(slug: str) -> None:
    """Bump `slug`'s generation once the current transaction commits."""
    transaction.on_commit(lambda: metadata_bump(slug), robust=True)


# --- license state ----------------------------------------------------------------------


def is_tombstone(raw: str | None) -> bool:
    return raw is not None and raw.startswith(TOMBSTONE_PREFIX)


def license_put(key_hash: str, state_json: str | None, *, seen: str | None = None) -> None:
    """Cache a state loaded from the database (None: unknown key) after reading `seen`.

    `seen` is what the cache held before the read: nothing (SET NX, so a change's tombstone
    written since wins) or a tombstone (replaced only if it is still the same one).
    """
    licenses_put([(key_hash, state_json, seen)])


def licenses_put(loaded: Sequence[tuple[str, str | None, str | None]]) -> None:
    """Cache states loaded from the database, as `license_put` does, in one round trip.

    Each entry is (key hash, state JSON or None for an unknown key, what the cache held).
    """
    entries = [
        (license_key(key_hash), *_license_value(state_json), seen)
        for key_hash, state_json, seen in loaded
    ]
    with contextlib.suppress(Unavailable):
        store().fill_many(entries)


def _license_value(state_json: str | None) -> tuple[str, int]:
    if state_json is None:
        return NEGATIVE, ttl_jittered(NEGATIVE_TTL)
    return state_json, ttl_jittered(LICENSE_TTL)


def licenses_fill(
    seen: dict[str, str | None], load: Callable[[list[str]], dict[str, str]]
) -> dict[str, str | None]:
    """Return the states (JSON, None if unknown) of keys the cache missed, loaded once per process.

    `seen` maps each key hash to what the cache held (nothing or a tombstone); load(hashes)
    reads states from the database (unknown keys absent). A thread shares the load of another
    only if both found the same thing: one that found a change's tombstone never takes a state
    read before that change. The loader reads the cache again first, and caches what it loads
    as `licenses_put` does.
    """
    flights = {(license_key(h), raw): h for h, raw in seen.items()}

    def fill(claimed: list[tuple[str, str | None]]) -> dict[tuple[str, str | None], str | None]:
        hashes = [flights[k] for k in claimed]
        try:
            now = store().fetch([license_key(h) for h in hashes], None)
        except Unavailable:
            now = [seen[h] for h in hashes]
        found: dict[tuple[str, str | None], str | None] = {}
        todo: dict[tuple[str, str | None], str | None] = {}
        for flight, raw in zip(claimed, now, strict=True):
            if raw is None or is_tombstone(raw):
                todo[flight] = raw
            else:
                found[flight] = None if raw == NEGATIVE else raw
        if todo:
            loaded = load([flights[k] for k in todo])
            states = {k: loaded.get(flights[k]) for k in todo}
            licenses_put([(flights[k], states[k], raw) for k, raw in todo.items()])
            found.update(states)
        return found

    got = _flights.load_many(list(flights), fill)
    return {h: got[k] for k, h in flights.items()}


def license_forget(key_hash: str) -> None:
    """Mark a license's cached state as changed with a fresh tombstone (after commit)."""
    store().changed(
        license_key(key_hash),
        TOMBSTONE_PREFIX + secrets.token_hex(6),
        ttl_jittered(TOMBSTONE_TTL),
    )


# --- the product directory ------------------------------------------------------------

_directory: tuple[float, dict[str, Any]] | None = None


def directory_get(
    load: Callable[[], dict[str, Any]], *, polled: bool | None = None
) -> dict[str, Any]:
    """Return the product directory: this process's recent copy, else the cache's, else load().

    With Redis down, the copy loaded from the database is kept for DIRECTORY_LOCAL_TTL too,
    so a flood of checks costs one query per process every few seconds. `polled` is what
    this check's `store().poll()` said (polled here when None).
    """
    s = store()
    near = s.near() if isinstance(s, _RedisStore) else None
    if near is not None and (s.poll() if polled is None else polled):
        # Exact while the push channel is up: a change drops this copy in every process.
        epoch = near.epoch
        held_near = near.get(DIRECTORY_KEY)
        if held_near is None:
            held_near = _directory_get(load, local=False)
            near.put(DIRECTORY_KEY, held_near, epoch)
        return held_near
    return _directory_get(load, local=True)


def _directory_get(load: Callable[[], dict[str, Any]], *, local: bool) -> dict[str, Any]:
    """The directory from this process's few-seconds copy (if `local`), the cache or load()."""
    global _directory
    held = _directory
    if local and held is not None and time.monotonic() - held[0] < DIRECTORY_LOCAL_TTL:
        return held[1]
    try:
        raw = store().get(DIRECTORY_KEY)
        cache_up = True
    except Unavailable:
        raw, cache_up = None, False
    if raw is not None and not is_tombstone(raw):
        value: dict[str, Any] = json.loads(raw)
        _directory = (time.monotonic(), value)
        return value
    # Shared only among threads that found the same thing (see licenses_fill).
    return _flights.load(
        (DIRECTORY_KEY, raw, local), lambda: _directory_fill(load, raw, cache_up, local=local)
    )


def _directory_fill(
    load: Callable[[], dict[str, Any]], seen: str | None, cache_up: bool, *, local: bool
) -> dict[str, Any]:
    global _directory
    held = _directory
    if local and held is not None and time.monotonic() - held[0] < DIRECTORY_LOCAL_TTL:
        return held[1]  # loaded by a thread that finished before this one asked
    if cache_up:
        with contextlib.suppress(Unavailable):
            raw = store().get(DIRECTORY_KEY)
            if raw is not None and not is_tombstone(raw):
                value: dict[str, Any] = json.loads(raw)
                _directory = (time.monotonic(), value)
                return value
            seen = raw
    value = load()
    if cache_up:
        with contextlib.suppress(Unavailable):
            ttl = ttl_jittered(DIRECTORY_TTL)
            store().fill_many([(DIRECTORY_KEY, json.dumps(value), ttl, seen)])
    _directory = (time.monotonic(), value)
    return value


def directory_forget() -> None:
    """Mark the product directory as changed: every process reloads it within seconds."""
    global _directory
    _directory = None
    store().changed(
        DIRECTORY_KEY, TOMBSTONE_PREFIX + secrets.token_hex(6), ttl_jittered(DIRECTORY_TTL)
    )


# --- rate limits ------------------------------------------------------------------------


def rate_limited(bucket: str, ip: str, *, limit: int, window: int = 60) -> int | None:
    """Count a request from `ip`; return seconds to wait when over `limit`, else None.

    Raises Unavailable when the cache is down; the caller decides to fail open or closed.
    """
    count, ttl = store().hit(rate_key(bucket, ip), window)
    return ttl if count > limit else None
