"""Metrics computed when Prometheus scrapes: facts that live in the database.

A fact the database already holds (the outbox backlog, orders paid, licenses issued, e-mails
sent) is read at scrape time rather than counted in process: every web and updates process
then reports the same figure, however many there are and however often they restart, and no
increment is lost to a crash between the commit and the counter. Each owning app keeps its
collector in its own `metrics` module (`apps.store.metrics`, ...), which `CoreConfig.ready()`
imports; the module registers it with `scrape_time_register`, so both the default registry
and the multiprocess one `/metrics` builds under `PROMETHEUS_MULTIPROC_DIR` export it.

`CachedDatabaseCollector` is the shape those collectors share: one cheap aggregate query,
its result kept in the default cache for `DEPOT_METRICS_CACHE_SECONDS` (30 s) so that many
pods scraped every 15 s cost the database one query per window, and the series left out of
the scrape (never reported as 0) when the database cannot be read.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

OLDEST = "depot_outbox_oldest_undelivered_age_seconds"
BACKLOG = "depot_outbox_undelivered"

Facts = dict[str, Any]
"""What a collector's query returned, JSON-shaped so the cache can keep it."""


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            OLDEST,
            "Age of the oldest outbox event not yet delivered (0 when none is waiting).",
        ),
        GaugeMetricFamily(BACKLOG, "Outbox events not yet delivered."),
    )


class OutboxCollector(Collector):
    """Report the outbox backlog with one query on its pending index, at scrape time.

    With the database unreachable the two gauges are left out of the scrape (and a warning
    logged) rather than reported as 0: an absent series is not an empty outbox. Alert on the
    database separately (`/readyz`), and on `absent()` if it matters. Not cached: the age is
    what the outbox alert fires on, and the query reads only the undelivered rows' index.
    """

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Names only, so registering never touches the database.
        yield from _families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from apps.core.models import OutboxEvent

        try:
            # dispatched_at IS NULL is the prefix of the outbox_pending index (dispatched_at,
            # created_at): MIN and COUNT read only the undelivered rows' index entries.
            found = OutboxEvent.objects.filter(dispatched_at__isnull=True).aggregate(
                oldest=Min("created_at"), count=Count("pk")
            )
        except Exception as exc:
            # A gauge must never fail the scrape: the other metrics still matter then.
            logger.warning("outbox gauges left out of this scrape: %s", exc)
            return
        oldest, backlog = _families()
        age = (timezone.now() - found["oldest"]).total_seconds() if found["oldest"] else 0.0
        oldest.add_metric([], max(age, 0.0))
        backlog.add_metric([], found["count"])
        yield oldest
        yield backlog


class CachedDatabaseCollector(Collector):
    """A scrape-time collector over one aggregate query, cached across processes for a while.

    Subclasses name a `cache_key`, `read()` the facts (JSON-shaped: the cache keeps them) and
    turn them into metric `families(facts)`; `families(None)` gives the empty families that
    `describe()` registers, so registering never touches the database. A failed read leaves
    this collector's series out of the scrape and logs why; a cache that does not answer
    (Redis down) only costs the query.
    """

    cache_key: str = ""

    def read(self) -> Facts:
        raise NotImplementedError

    def families(self, facts: Facts | None) -> Sequence[Metric]:
        raise NotImplementedError

    def describe(self) -> Iterator[Metric]:
        yield from self.families(None)

    def collect(self) -> Iterator[Metric]:
        facts = self._cached()
        if facts is None:
            try:
                facts = self.read()
            except Exception as exc:
                # Never fail the scrape: the process's own metrics still matter then.
                logger.warning("%s left out of this scrape: %s", type(self).__name__, exc)
                return
            self._remember(facts)
        yield from self.families(facts)

    def _cached(self) -> Facts | None:
        from django.core.cache import cache

        if settings.DEPOT_METRICS_CACHE_SECONDS <= 0:
            return None
        try:
            found = cache.get(self.cache_key)
        except Exception:
            return None  # Redis down: read the database, which is what the cache spares.
        return found if isinstance(found, dict) else None

    def _remember(self, facts: Facts) -> None:
        from django.core.cache import cache

        seconds = settings.DEPOT_METRICS_CACHE_SECONDS
        if seconds <= 0:
            return
        with contextlib.suppress(Exception):
            cache.set(self.cache_key, facts, timeout=seconds)


outbox_collector = OutboxCollector()

_scrape_time: list[Collector] = [outbox_collector]


def scrape_time_register(collector: Collector) -> Collector:
    """Export `collector` from /metrics, with or without PROMETHEUS_MULTIPROC_DIR; once."""
    if collector not in _scrape_time:
        _scrape_time.append(collector)
    # Once per process: a second ready() (some test runners) finds it there already.
    with contextlib.suppress(ValueError):
        REGISTRY.register(collector)
    return collector


def scrape_time_collectors() -> list[Collector]:
    """The collectors that read the database at scrape time (the multiprocess export adds them)."""
    return list(_scrape_time)
