"""Install statistics: counted in Redis on the hot path, rolled up into the database by beat.

An update check never writes a row. It hands `stats_writer(...)` to the hot-path cache, which
queues these commands in the pipeline it sends anyway (one round trip per check):

- ``depot:stats:products:<day>``: SET of the product slugs seen that day (what to roll up).
- ``depot:stats:checks:<day>``: HASH slug → number of checks that day (HINCRBY).
- ``depot:stats:hll:<day>:<slug>``: HyperLogLog of the distinct sites that checked (PFADD).
- ``depot:stats:sites:<day>:<slug>``: HASH site → ``plugin|wp|php|locale``, the site's last
  check of the day, from which the roll-up counts distinct sites per version and locale.

Days are UTC dates (``YYYY-MM-DD``). Every key is given a fresh EXPIRE of three days on each
write, so a day's data outlives the last roll-up of that day and then disappears by itself.

`stats_rollup` reads one day back (HSCAN in batches: a big product's hash never comes back as
one reply) and replaces that day's `InstallDay` and `InstallVersionDay` rows. On the embedded
default (local-memory cache) nothing is collected and the roll-up does nothing.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.cache import caches
from django.db import transaction

from apps.licenses.catalogue import Product
from apps.updates.models import InstallDay, InstallVersionDay

logger = logging.getLogger(__name__)

PREFIX = "depot:stats:"
TTL_SECONDS = 3 * 24 * 3600
UNKNOWN = "unknown"
OTHER = "other"
# InstallVersionDay.value's length.
MAX_VALUE_LENGTH = 50
# Product.slug's length; longer slugs cannot name a product and are not counted.
MAX_SLUG_LENGTH = 100
# A longer site is stored as a digest: the count stays right, the memory bounded.
MAX_SITE_LENGTH = 200
# Rows per product, day and dimension; the long tail (or a flood of junk) becomes "other".
MAX_VALUES_PER_DIMENSION = 200
HSCAN_BATCH = 1000
SEPARATOR = "|"
# The order of the fields in a site's fingerprint.
DIMENSIONS: tuple[str, ...] = (
    InstallVersionDay.Dimension.PLUGIN.value,
    InstallVersionDay.Dimension.WP.value,
    InstallVersionDay.Dimension.PHP.value,
    InstallVersionDay.Dimension.LOCALE.value,
)

# Printable ASCII only: MySQL's utf8mb4_unicode_ci would call many other spellings equal
# and break the roll-up's unique constraint; the separator must never occur in a value.
_DISALLOWED = re.compile(r"[^\x20-\x7e]|\|")
_SPACES = re.compile(r"\s+")
_PHP_MAJOR_MINOR = re.compile(r"(\d{1,3})(?:\.(\d{1,3}))?(?!\d)")


@dataclass(frozen=True)
class InstallSample:
    """One product checked by one site, with the versions it reported ("" when unknown)."""

    slug: str
    site: str
    plugin_version: str
    wp_version: str
    php_version: str
    locale: str


def products_key(day: date) -> str:
    return f"{PREFIX}products:{day.isoformat()}"


def checks_key(day: date) -> str:
    return f"{PREFIX}checks:{day.isoformat()}"


def hll_key(day: date, slug: str) -> str:
    return f"{PREFIX}hll:{day.isoformat()}:{slug}"


def sites_key(day: date, slug: str) -> str:
    return f"{PREFIX}sites:{day.isoformat()}:{slug}"


def value_clean(value: str) -> str:
    """Return `value` as stored: printable ASCII, no separator, at most 50 chars, or "unknown"."""
    text = _DISALLOWED.sub("_", _SPACES.sub(" ", value or "").strip())
    return text[:MAX_VALUE_LENGTH].rstrip() or UNKNOWN


def php_clean(value: str) -> str:
    """Return PHP's major.minor ("8.2" for "8.2.12-1+ubuntu22.04"), or "unknown"."""
    match = _PHP_MAJOR_MINOR.match((value or "").strip())
    if match is None:
        return UNKNOWN
    major, minor = match.groups()
    return f"{int(major)}.{int(minor)}" if minor is not None else str(int(major))


def _slug_clean(slug: str) -> str:
    # Lower-case: a slug's spellings must not roll up twice into the same product.
    slug = (slug or "").strip().lower()
    return slug if len(slug) <= MAX_SLUG_LENGTH else ""


def _site_clean(site: str) -> str:
    site = (site or "").strip().lower()
    if len(site) > MAX_SITE_LENGTH:
        return "sha1:" + hashlib.sha1(site.encode(), usedforsecurity=False).hexdigest()
    return site


def fingerprint(sample: InstallSample) -> str:
    """Return the sample's ``plugin|wp|php|locale`` as stored per site."""
    return _fingerprint(sample.plugin_version, sample.wp_version, sample.php_version, sample.locale)


# Sites report few distinct version combinations: each is cleaned once per process.
@functools.lru_cache(maxsize=4096)
def _fingerprint(plugin_version: str, wp_version: str, php_version: str, locale: str) -> str:
    return SEPARATOR.join(
        (
            value_clean(plugin_version),
            value_clean(wp_version),
            php_clean(php_version),
            value_clean(locale),
        )
    )


def stats_writer(samples: Sequence[InstallSample], *, day: date) -> Callable[[Any], None]:
    """Return a function that queues the samples' counters on a redis-py pipeline.

    The samples are cleaned here, before the pipeline exists; the returned function only
    queues commands (no database, no Redis round trip of its own). A sample without a site
    counts as a check but not as an install.
    """
    checks: Counter[str] = Counter()
    sites: dict[str, dict[str, str]] = {}
    for sample in samples:
        slug = _slug_clean(sample.slug)
        if not slug:
            continue
        checks[slug] += 1
        site = _site_clean(sample.site)
        if site:
            # A later sample of the same site in this batch wins, as a later check does.
            sites.setdefault(slug, {})[site] = fingerprint(sample)

    def write(pipe: Any) -> None:
        if not checks:
            return
        pipe.sadd(products_key(day), *checks)
        _expire_once(pipe, products_key(day))
        for slug, count in checks.items():
            pipe.hincrby(checks_key(day), slug, count)
        _expire_once(pipe, checks_key(day))
        for slug, fingerprints in sites.items():
            pipe.pfadd(hll_key(day, slug), *fingerprints)
            _expire_once(pipe, hll_key(day, slug))
            pipe.hset(sites_key(day, slug), mapping=fingerprints)
            _expire_once(pipe, sites_key(day, slug))

    return write


@dataclass(frozen=True)
class StatsBatch:
    """One check's samples of one day; called with a pipeline, it queues their counters.

    The update path hands a batch to the hot cache, which either queues it on the check's
    own pipeline or, with the near cache on, keeps it for the once-a-second flush that merges
    every batch since the last one (`stats_batches_merge`).
    """

    day: date
    samples: tuple[InstallSample, ...]

    def __call__(self, pipe: Any) -> None:
        stats_writer(self.samples, day=self.day)(pipe)


def stats_batches_merge(batches: Sequence[StatsBatch]) -> Callable[[Any], None]:
    """Return one writer for many batches: per day, one set of commands for all their samples."""
    by_day: dict[date, list[InstallSample]] = {}
    for batch in batches:
        by_day.setdefault(batch.day, []).extend(batch.samples)
    writers = [stats_writer(samples, day=day) for day, samples in by_day.items()]

    def write(pipe: Any) -> None:
        for writer in writers:
            writer(pipe)

    return write


# Keys this process already gave their TTL: the day is in every key's name, so once a day per
# key is enough, and it saves about half the commands of a check (measured in bench/updates:
# 9 commands per PUC check, 4 of them EXPIREs). The roll-up sets the TTLs again, in case
# Redis lost them (a restart) after this process had set them.
_expiring: set[str] = set()
_EXPIRING_MAX = 20_000


def _expire_once(pipe: Any, key: str) -> None:
    if key in _expiring:
        return
    if len(_expiring) >= _EXPIRING_MAX:
        _expiring.clear()
    _expiring.add(key)
    pipe.expire(key, TTL_SECONDS)


def expiring_forget() -> None:
    """Forget which keys were given a TTL (tests flush Redis between cases)."""
    _expiring.clear()


# --- roll-up ------------------------------------------------------------------------------

_disabled_logged = False


def _collecting() -> bool:
    """Whether the default cache is django-redis, where the hot path counts installs."""
    global _disabled_logged
    from django_redis.cache import RedisCache

    if isinstance(caches["default"], RedisCache):
        return True
    if not _disabled_logged:
        _disabled_logged = True
        logger.info("install statistics are not collected: the default cache is not Redis")
    return False


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _values_fold(counts: Counter[str], *, php: bool) -> list[tuple[str, int]]:
    """Merge spellings the database would call equal; keep the top values, sum the rest."""
    spellings: dict[str, Counter[str]] = {}
    for raw, sites in counts.items():
        value = php_clean(raw) if php else value_clean(raw)
        spellings.setdefault(value.lower(), Counter())[value] += sites
    rows = sorted(
        ((names.most_common(1)[0][0], sum(names.values())) for names in spellings.values()),
        key=lambda row: (-row[1], row[0]),
    )
    if len(rows) <= MAX_VALUES_PER_DIMENSION:
        return rows
    kept = dict(rows[: MAX_VALUES_PER_DIMENSION - 1])
    rest = sum(sites for _, sites in rows[MAX_VALUES_PER_DIMENSION - 1 :])
    other = next((value for value in kept if value.lower() == OTHER), OTHER)
    kept[other] = kept.get(other, 0) + rest
    return sorted(kept.items(), key=lambda row: (-row[1], row[0]))


def _fingerprints_count(client: Any, key: str) -> dict[str, Counter[str]]:
    """Count distinct sites per dimension value from a day's site → fingerprint hash."""
    counts: dict[str, Counter[str]] = {dimension: Counter() for dimension in DIMENSIONS}
    # HSCAN may return a field twice while the hash grows; count each site once.
    seen: set[bytes | str] = set()
    for site, raw in client.hscan_iter(key, count=HSCAN_BATCH):
        if site in seen:
            continue
        seen.add(site)
        values = _text(raw).split(SEPARATOR)
        if len(values) != len(DIMENSIONS):
            continue
        for dimension, value in zip(DIMENSIONS, values, strict=True):
            counts[dimension][value] += 1
    return counts


def _product_rollup(client: Any, *, product: Product, day: date) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.pfcount(hll_key(day, product.slug))
    pipe.hget(checks_key(day), product.slug)
    sites, checks = pipe.execute()
    counts = _fingerprints_count(client, sites_key(day, product.slug))
    rows = [
        InstallVersionDay(product=product, day=day, dimension=dimension, value=value, sites=n)
        for dimension in DIMENSIONS
        for value, n in _values_fold(
            counts[dimension], php=dimension == InstallVersionDay.Dimension.PHP
        )
    ]
    with transaction.atomic():
        # update_or_create locks the day's row, so two overlapping roll-ups of the same
        # product and day take turns instead of inserting the version rows twice.
        InstallDay.objects.update_or_create(
            product=product,
            day=day,
            defaults={"sites": int(sites or 0), "checks": int(checks or 0)},
        )
        InstallVersionDay.objects.filter(product=product, day=day).delete()
        InstallVersionDay.objects.bulk_create(rows, batch_size=500)


def stats_rollup(*, day: date) -> int:
    """Replace `day`'s install rows with Redis's counts; return how many products were rolled up.

    Idempotent: a second run over the same data writes the same rows. Slugs that name no
    product are skipped.
    """
    if not _collecting():
        return 0
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    slugs = sorted(_text(slug) for slug in client.smembers(products_key(day)))
    # The writers set each key's TTL once per process; make sure a restart lost none.
    safety = client.pipeline(transaction=False)
    for key in [products_key(day), checks_key(day)] + [
        k for slug in slugs for k in (hll_key(day, slug), sites_key(day, slug))
    ]:
        safety.expire(key, TTL_SECONDS, nx=True)
    safety.execute()
    products = {product.slug.lower(): product for product in Product.objects.filter(slug__in=slugs)}
    rolled = 0
    for slug in slugs:
        product = products.get(slug)
        if product is None:
            logger.debug("install statistics for unknown product %r skipped", slug)
            continue
        _product_rollup(client, product=product, day=day)
        rolled += 1
    return rolled
