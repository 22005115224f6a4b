"""The backup-age gauge, computed when Prometheus scrapes (web role only: the updates role drops
this app). apps.core's ready() imports every app's `metrics` module, which registers its
collectors for /metrics with and without PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Max
from prometheus_client.core import GaugeMetricFamily, Metric

from apps.core.metrics import CachedDatabaseCollector, Facts, scrape_time_register

LAST_SUCCESS = "depot_backup_last_success_timestamp_seconds"


def _family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        LAST_SUCCESS,
        "Unix time the newest complete backup (dump and manifest) reached storage; "
        "0 when there has been none.",
    )


class BackupCollector(CachedDatabaseCollector):
    """Report when the newest backup finished, with one query on an indexed column (cached).

    Alert on `time() - depot_backup_last_success_timestamp_seconds > 26 * 3600`. With the
    database unreachable the gauge is left out of the scrape rather than reported as 0 (which
    would fire that alert for a database blip, not a missed backup).
    """

    cache_key = "depot:metrics:backups"

    def read(self) -> Facts:
        from apps.backups.models import BackupRecord

        newest = BackupRecord.objects.aggregate(newest=Max("finished_at"))["newest"]
        return {"newest": newest.timestamp() if newest else 0.0}

    def families(self, facts: Facts | None) -> Sequence[Metric]:
        family = _family()
        if facts is not None:
            family.add_metric([], facts["newest"])
        return [family]


backup_collector = scrape_time_register(BackupCollector())
