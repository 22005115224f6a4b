from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from apps.updates.delivery import hotcache
from apps.updates.stats.installs import stats_rollup


# `name=` keeps each task's registered name from before the `_task` suffix: queued messages
# and the beat schedule (config/settings/base.py) address tasks by that name.
@shared_task(name="apps.updates.tasks.install_stats_rollup")
def install_stats_rollup_task() -> int:
    """Roll up yesterday's install statistics and today's so far (UTC; run by beat)."""
    today = timezone.now().date()
    # Yesterday first: its last checks arrived after the previous run, and it is final now.
    return stats_rollup(day=today - timedelta(days=1)) + stats_rollup(day=today)


@shared_task(
    name="apps.updates.tasks.license_state_forget",
    autoretry_for=(hotcache.Unavailable,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=50,
    acks_late=True,
)
def license_state_forget_task(*, key_hash: str) -> None:
    """Drop a license's cached state once Redis answers again (its change already committed)."""
    hotcache.license_forget(key_hash)
