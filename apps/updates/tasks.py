from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from apps.updates import hotcache
from apps.updates.stats import stats_rollup


@shared_task
def install_stats_rollup() -> int:
    """Roll up yesterday's install statistics and today's so far (UTC; run by beat)."""
    today = timezone.now().date()
    # Yesterday first: its last checks arrived after the previous run, and it is final now.
    return stats_rollup(day=today - timedelta(days=1)) + stats_rollup(day=today)


@shared_task(
    autoretry_for=(hotcache.Unavailable,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=50,
    acks_late=True,
)
def license_state_forget(*, key_hash: str) -> None:
    """Drop a license's cached state once Redis answers again (its change already committed)."""
    hotcache.license_forget(key_hash)
