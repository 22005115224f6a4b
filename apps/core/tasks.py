from datetime import timedelta

from celery import shared_task

from apps.core.outbox import outbox_dispatch_row, outbox_sweep


# `name=` keeps each task's registered name from before the `_task` suffix: queued messages
# and the beat schedule (config/settings/base.py) address tasks by that name.
@shared_task(
    name="apps.core.tasks.outbox_dispatch",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=8,
)
def outbox_dispatch_task(*, outbox_id: int) -> bool:
    """Deliver one outbox row to its subscribers (idempotent: a delivered row is skipped)."""
    return outbox_dispatch_row(outbox_id=outbox_id)


@shared_task
def outbox_sweep_task(*, older_than_seconds: int = 30) -> int:
    """Re-send outbox rows that were never delivered (run by beat)."""
    return outbox_sweep(older_than=timedelta(seconds=older_than_seconds))
