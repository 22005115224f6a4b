"""The licenses' business metrics, read from the licenses table when Prometheus scrapes.

Issued is a counter: every license row was issued once (a purchase, the admin, an import)
and licenses are never deleted. Revoked is a gauge, the licenses revoked now: the admin may
give a revoked license back its status (`license_status_set`), so the count can go down.
One grouped query, cached (`CachedDatabaseCollector`); labelled by product slug, as many
series as the catalogue has products.
"""

from __future__ import annotations

from django.db.models import Count, Q
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from apps.core.metrics import CachedDatabaseCollector, Facts, scrape_time_register
from apps.licenses.models import License

ISSUED = "depot_licenses_issued"
REVOKED = "depot_licenses_revoked"


class LicensesCollector(CachedDatabaseCollector):
    """Licenses issued, and licenses revoked now, by product."""

    cache_key = "depot:metrics:licenses"

    def read(self) -> Facts:
        rows = (
            License.objects.order_by()
            .values("product__slug")
            .annotate(
                issued=Count("pk"), revoked=Count("pk", filter=Q(status=License.Status.REVOKED))
            )
        )
        return {row["product__slug"]: [row["issued"], row["revoked"]] for row in rows}

    def families(self, facts: Facts | None) -> list[Metric]:
        issued = CounterMetricFamily(ISSUED, "Licenses issued.", labels=["product"])
        revoked = GaugeMetricFamily(REVOKED, "Licenses revoked now.", labels=["product"])
        for product, (issued_count, revoked_count) in sorted((facts or {}).items()):
            issued.add_metric([product], issued_count)
            revoked.add_metric([product], revoked_count)
        return [issued, revoked]


licenses_collector = scrape_time_register(LicensesCollector())
