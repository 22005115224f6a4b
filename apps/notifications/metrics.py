"""E-mail metrics, read from `EmailLog` when Prometheus scrapes.

Sent is a counter: a row becomes `sent` once and never leaves it (a second delivery finds it
sent and returns). Failed is a gauge, the e-mails whose latest attempt failed and that were
not sent since: the task retries, and a retry that succeeds moves the row to `sent`. Mails go
out from the workers, but the log is in the database, so the web role's /metrics reports them
and the figures survive a worker's restart. One grouped query on the `emaillog_status` index,
cached (`CachedDatabaseCollector`); labelled by template (receipt, refund notice).
"""

from __future__ import annotations

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from apps.core.metrics import CachedDatabaseCollector, Facts, scrape_time_register
from apps.notifications.models import EmailLog

SENT = "depot_emails_sent"
FAILED = "depot_emails_failed"


class EmailsCollector(CachedDatabaseCollector):
    """E-mails sent, and e-mails failed and not yet sent, by template."""

    cache_key = "depot:metrics:emails"

    def read(self) -> Facts:
        rows = (
            EmailLog.objects.order_by()
            .filter(status__in=[EmailLog.Status.SENT, EmailLog.Status.FAILED])
            .values("status", "template")
            .annotate(count=Count("pk"))
        )
        facts: Facts = {}
        for row in rows:
            facts.setdefault(row["template"], {})[row["status"]] = row["count"]
        return facts

    def families(self, facts: Facts | None) -> list[Metric]:
        sent = CounterMetricFamily(SENT, "E-mails sent.", labels=["template"])
        failed = GaugeMetricFamily(
            FAILED, "E-mails whose last attempt failed, not sent since.", labels=["template"]
        )
        for template, counts in sorted((facts or {}).items()):
            sent.add_metric([template], counts.get(EmailLog.Status.SENT, 0))
            failed.add_metric([template], counts.get(EmailLog.Status.FAILED, 0))
        return [sent, failed]


emails_collector = scrape_time_register(EmailsCollector())
