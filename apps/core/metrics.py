"""Gauges computed when Prometheus scrapes: the outbox backlog, read from the database."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

OLDEST = "depot_outbox_oldest_undelivered_age_seconds"
BACKLOG = "depot_outbox_undelivered"


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
    database separately (`/readyz`), and on `absent()` if it matters.
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


outbox_collector = OutboxCollector()
