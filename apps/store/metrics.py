"""The store's business metrics, read from the orders table when Prometheus scrapes.

Counters only where the figure can never go down: an order is counted once it exists
(placed), once `paid_at` is set (paid) and once `refunded_at` is set (refunded). Both
timestamps are written once and never cleared, and orders are never deleted (an abandoned
checkout is cancelled), so an order refunded later still counts as paid, and revenue is the
gross of paid orders; net revenue is `revenue - refunds`. Amounts are in the currency's minor
units (cents), as the orders keep them. One grouped query, cached (`CachedDatabaseCollector`).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count, Q, Sum
from prometheus_client.core import CounterMetricFamily, Metric

from apps.core.metrics import CachedDatabaseCollector, Facts, scrape_time_register
from apps.store.models import Order

PLACED = "depot_orders_placed"
PAID = "depot_orders_paid"
REFUNDED = "depot_orders_refunded"
REVENUE = "depot_revenue_minor_units"
REFUNDS = "depot_refunds_minor_units"


class OrdersCollector(CachedDatabaseCollector):
    """Orders placed, paid and refunded, and revenue and refunds, by currency."""

    cache_key = "depot:metrics:orders"

    def read(self) -> Facts:
        paid = Q(paid_at__isnull=False)
        rows = (
            Order.objects.order_by()
            .values("currency")
            .annotate(
                placed=Count("pk"),
                paid=Count("paid_at"),
                refunded=Count("refunded_at"),
                revenue=Sum("total", filter=paid),
                refunds=Sum("total", filter=paid & Q(refunded_at__isnull=False)),
            )
        )
        return {
            row["currency"]: [
                row["placed"],
                row["paid"],
                row["refunded"],
                row["revenue"] or 0,
                row["refunds"] or 0,
            ]
            for row in rows
        }

    def families(self, facts: Facts | None) -> Sequence[Metric]:
        families = [
            CounterMetricFamily(PLACED, "Orders placed at checkout.", labels=["currency"]),
            CounterMetricFamily(
                PAID, "Orders paid (a later refund still counts).", labels=["currency"]
            ),
            CounterMetricFamily(REFUNDED, "Orders refunded.", labels=["currency"]),
            CounterMetricFamily(
                REVENUE,
                "Gross revenue of paid orders, in the currency's minor units (cents).",
                labels=["currency"],
            ),
            CounterMetricFamily(
                REFUNDS,
                "Amount refunded on paid orders, in the currency's minor units (cents).",
                labels=["currency"],
            ),
        ]
        for currency, values in sorted((facts or {}).items()):
            for family, value in zip(families, values, strict=True):
                family.add_metric([currency], value)
        return families


orders_collector = scrape_time_register(OrdersCollector())
