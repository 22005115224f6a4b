"""This process's copy of the update cache's hot entries, kept exact by pushed invalidations.

A warm update check used to cost one Redis round trip: the MGET of the product generations
and license states it needs, plus the client's request counter and the install statistics.
Here each process keeps what it read from Redis (``gen:<slug>``, ``lic:<hash>``, the product
directory) and answers from memory; counters are kept in memory and sent once a second.

**Exactness.** Every change to one of these keys goes through `changed()`: one Lua call sets
the key (a tombstone or a new generation), increments ``depot:upd:seq:<db>`` and publishes
``<seq> <key>`` on ``depot:upd:changed:<db>``. Each process subscribes on a connection of its
own and, before every check, reads what has arrived on that socket (a non-blocking read: no
round trip) and drops the named keys. Redis writes the message to every subscriber in the
same event-loop turn as it answers the writer, so by the time the writer has answered its
own caller, the next check on any process finds the message waiting. The writing process
also drops the key itself before it returns.

**When the push channel is down** (Redis unreachable, the subscription lost, a gap in the
sequence, Redis restarted or flushed: the sequence goes back), the copy is dropped whole and
checks take the round-trip path again until a new subscription is confirmed. A once-a-second
housekeeping pass compares the server's sequence with the last one applied: a difference
that persists for two passes drops the copy too. Each entry is also kept at most
`MAX_AGE` seconds, so a change that bypassed `changed()` heals by itself.

**Counters off the request.** Install statistics and rate-limit hits are queued in memory and
sent in one pipeline per second by a daemon thread (and at exit). A crash loses at most the
last second of install counts. A client's rate-limit count is what Redis said at the last
flush plus this process's hits since: over the limit it is refused here at once; across N
processes a client may get up to about one second of extra requests through per process.

Entries are bounded (`MAX_ENTRIES`, the oldest filled out first: reads take no lock).
"""

from __future__ import annotations

import atexit
import logging
import os
import select
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

MAX_ENTRIES = 100_000
MAX_AGE = 60.0
FLUSH_SECONDS = 1.0
# How long a failed subscription waits before the next try (checks use Redis meanwhile).
RETRY_SECONDS = 2.0
SUBSCRIBE_WAIT = 0.5

# Set a key, count the change and announce it, atomically (so announcements keep their order).
_CHANGE = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local seq = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[3], seq .. ' ' .. KEYS[1])
return seq
"""


@dataclass
class _Hits:
    """A rate-limit key's count: Redis's total at the last flush, and this process's since."""

    known: int = 0
    known_until: float = 0.0
    pending: int = 0
    window: int = 60


class NearCache:
    """The copy of one Redis database's hot keys held by this process (see the module doc)."""

    def __init__(
        self, client: Callable[[], Any], merge: Callable[[list[Any]], Callable[[Any], None]]
    ) -> None:
        self._client = client
        self._merge = merge
        self._lock = threading.RLock()
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self.epoch = 0
        self._pid = 0
        self._pubsub: Any = None
        self._poller: Any = None  # (fd, select.poll) of the subscription's socket
        self._live = False
        self._retry_at = 0.0
        self._last_seq = 0
        self._behind = 0
        self._db = 0
        self._hits: dict[str, _Hits] = {}
        self._stats: list[Any] = []
        self._flusher: threading.Thread | None = None
        # Set when this copy is replaced (near_reset): its flusher ends (what it held is dropped).
        self.stopped = False

    # --- names ---------------------------------------------------------------------------

    @property
    def channel(self) -> str:
        return f"depot:upd:changed:{self._db}"

    @property
    def seq_key(self) -> str:
        return f"depot:upd:seq:{self._db}"

    # --- the subscription ----------------------------------------------------------------

    def ready(self) -> bool:
        """Apply what has arrived; True when this process may answer from its copy."""
        with self._lock:
            if self._pid != os.getpid():
                self._fork_reset()
            if not self._live:
                if time.monotonic() < self._retry_at:
                    return False
                self._subscribe()
                if not self._live:
                    return False
            self._drain()
            return self._live

    def _fork_reset(self) -> None:
        # A forked child shares its parent's sockets: never read them; start afresh.
        self._pid = os.getpid()
        self._pubsub, self._poller, self._live, self._retry_at = None, None, False, 0.0
        self._entries.clear()
        self._hits.clear()
        self._stats.clear()
        self._flusher = None
        self.epoch += 1

    def _subscribe(self) -> None:
        """Subscribe (tried again RETRY_SECONDS after a failure; checks use Redis meanwhile)."""
        from redis.exceptions import RedisError

        self._drop_all()
        try:
            client = self._client()
            # A subscription's connection is not behind the client's breaker (apps.core.cache):
            # while it skips calls to a failed Redis, do not wait SUBSCRIBE_WAIT for one.
            breaker_open = getattr(client, "breaker_open", None)
            if breaker_open is not None and breaker_open():
                self._down("Redis is skipped after a recent failure")
                return
            self._db = int(client.connection_pool.connection_kwargs.get("db", 0) or 0)
            pubsub = self._subscribed(client)
            seq = client.get(self.seq_key)
        except (RedisError, OSError) as exc:
            self._down(f"could not subscribe: {exc}")
            return
        except Exception as exc:  # the client factory refused (hotcache.Unavailable)
            self._down(f"could not subscribe: {exc!r}")
            return
        self._pubsub, self._live = pubsub, True
        self._last_seq, self._behind = int(seq or 0), 0
        self._drain(force=True)
        self._flusher_ensure()

    def _subscribed(self, client: Any) -> Any:
        from redis.exceptions import TimeoutError as RedisTimeoutError

        pubsub = client.pubsub()
        try:
            pubsub.subscribe(self.channel)
            deadline = time.monotonic() + SUBSCRIBE_WAIT
            while time.monotonic() < deadline:
                message = pubsub.get_message(timeout=0.05)
                if message is not None and message["type"] == "subscribe":
                    return pubsub
            raise RedisTimeoutError("no confirmation of the subscription")
        except BaseException:
            pubsub.close()
            raise

    def _drain(self, *, force: bool = False) -> None:
        """Apply every message that has arrived; a single poll(0) of the socket when none has.

        redis-py's get_message is ~40 µs even when nothing is there; the socket says so in a
        system call. `force` reads through redis-py anyway (after subscribing, and once a
        second), in case a message came in with an earlier read and waits in its buffer.
        """
        from redis.exceptions import RedisError

        if not force:
            sock = getattr(getattr(self._pubsub, "connection", None), "_sock", None)
            if sock is not None:
                try:
                    fd = sock.fileno()  # -1 once closed: register() refuses it
                    if self._poller is None or self._poller[0] != fd:
                        poller = select.poll()
                        poller.register(fd, select.POLLIN)
                        self._poller = (fd, poller)
                    # Any event (data, a hang-up, an error) is read through redis-py below.
                    if not self._poller[1].poll(0):
                        return
                except (OSError, ValueError) as exc:
                    self._down(f"invalidations lost: {exc}")
                    return
        try:
            while True:
                message = self._pubsub.get_message(timeout=0.0)
                if message is None:
                    return
                if message["type"] == "message":
                    self._apply(message["data"])
        except (RedisError, OSError, ValueError, AttributeError) as exc:
            self._down(f"invalidations lost: {exc}")

    def _apply(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        seq_text, _, key = text.partition(" ")
        seq = int(seq_text)
        self._entries.pop(key, None)
        self.epoch += 1
        if seq != self._last_seq + 1:
            # A message missed (or Redis restarted and counts from 1 again): start afresh.
            self._drop_all()
        self._last_seq = seq

    def _down(self, why: str) -> None:
        if self._live:
            logger.warning("update near-cache off, checks use Redis: %s", why)
        if self._pubsub is not None:
            try:
                self._pubsub.close()
            except Exception:  # closing a broken socket
                logger.debug("closing the subscription failed", exc_info=True)
        self._pubsub, self._poller, self._live = None, None, False
        self._retry_at = time.monotonic() + RETRY_SECONDS
        self._drop_all()

    def _drop_all(self) -> None:
        self._entries.clear()
        self.epoch += 1

    # --- entries -------------------------------------------------------------------------

    def get(self, key: str) -> Any:
        """Return this process's copy of `key`, or None (call `ready()` first)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > MAX_AGE:
            with self._lock:
                self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, value: Any, epoch: int) -> None:
        """Keep `value`, read from Redis after `epoch` was taken, unless a change came since."""
        with self._lock:
            if not self._live or epoch != self.epoch:
                return
            self._entries[key] = (time.monotonic(), value)
            if len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self.epoch += 1

    def changed(self, key: str, value: str, ttl: int) -> None:
        """Set `key` in Redis and tell every process to drop its copy (raises RedisError)."""
        client = self._client()
        db = int(client.connection_pool.connection_kwargs.get("db", 0) or 0)
        client.eval(_CHANGE, 2, key, f"depot:upd:seq:{db}", value, ttl, f"depot:upd:changed:{db}")
        self.forget(key)

    # --- counters ------------------------------------------------------------------------

    @property
    def counting(self) -> bool:
        """True when this process counts rate-limit hits itself (subscribed, not forked since).

        Unlike `ready()` nothing is read from the socket: counts do not depend on changes.
        """
        return self._live and self._pid == os.getpid()

    def hit(self, key: str, window: int) -> tuple[int, int]:
        """Count one request against `key`; return (requests so far, seconds left)."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = _Hits(window=window)
            if hits.known_until <= now:
                hits.known, hits.known_until = 0, 0.0
            hits.pending += 1
            left = int(hits.known_until - now) if hits.known_until else window
            return hits.known + hits.pending, max(1, left)

    def stats_add(self, writer: Any) -> None:
        with self._lock:
            self._stats.append(writer)

    def _flusher_ensure(self) -> None:
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Thread(
                target=self._flush_loop, name="depot-near-cache", daemon=True
            )
            self._flusher.start()

    def _flush_loop(self) -> None:
        pid = os.getpid()
        while os.getpid() == pid and not self.stopped:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # the thread must outlive any one failure
                logger.exception("near-cache flush failed")

    def flush(self) -> None:
        """Send the queued counters in one pipeline and check the change sequence."""

        with self._lock:
            if self._pid != os.getpid():
                return
            stats, self._stats = self._stats, []
            pending = {k: h for k, h in self._hits.items() if h.pending}
            if not stats and not pending and not self._live:
                return  # nothing to send, no sequence to check
            counts = {k: h.pending for k, h in pending.items()}
            for hits in pending.values():
                hits.pending = 0
            now = time.monotonic()
            idle = [k for k, h in self._hits.items() if not h.pending and h.known_until <= now]
            for key in idle:
                del self._hits[key]
            live = self._live
        try:
            pipe = self._client().pipeline(transaction=False)
            for key, count in counts.items():
                pipe.set(key, 0, ex=pending[key].window, nx=True)
                pipe.incrby(key, count)
                pipe.ttl(key)
            if stats:
                self._merge(stats)(pipe)
            pipe.get(self.seq_key)
            replies = pipe.execute()
        except Exception as exc:  # RedisError, OSError, or the client factory's Unavailable
            logger.warning("near-cache flush: Redis unreachable (%s); counts dropped", exc)
            return
        now = time.monotonic()
        with self._lock:
            for n, key in enumerate(counts):
                total, ttl = int(replies[n * 3 + 1]), int(replies[n * 3 + 2])
                hits = self._hits.setdefault(key, _Hits(window=pending[key].window))
                hits.known, hits.known_until = total, now + max(1, ttl)
            if live and self._live:
                self._check_sequence(int(replies[-1] or 0))

    def _check_sequence(self, seq: int) -> None:
        self._drain(force=True)
        if seq == self._last_seq:
            self._behind = 0
        elif seq < self._last_seq:
            self._drop_all()  # Redis restarted or was flushed
            self._last_seq, self._behind = seq, 0
        else:
            self._behind += 1
            if self._behind >= 2:
                self._down(f"sequence {seq} announced, {self._last_seq} received")


_near: NearCache | None = None
_near_lock = threading.Lock()


def near_cache(
    client: Callable[[], Any], merge: Callable[[list[Any]], Callable[[Any], None]]
) -> NearCache:
    """Return this process's near cache over `client` (one per process).

    `merge(batches)` turns the install-statistics batches queued since the last flush into
    one function that queues their commands on a pipeline.
    """
    global _near
    if _near is None:
        with _near_lock:
            if _near is None:
                _near = NearCache(client, merge)
                atexit.register(_near.flush)
    return _near


def near_current() -> NearCache | None:
    """Return this process's near cache if `near_cache` made one (and no reset came since)."""
    near = _near
    return near if near is not None and not near.stopped else None


def near_reset() -> None:
    """Forget the near cache (tests that change settings or flush Redis)."""
    global _near
    with _near_lock:
        if _near is not None:
            _near.stopped = True
            _near._down("reset")
            _near._retry_at = 0.0
        _near = None
