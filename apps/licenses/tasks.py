from celery import shared_task

from apps.licenses import services


@shared_task(name="apps.licenses.tasks.renewal_reminders_publish_task")
def renewal_reminders_publish_task() -> int:
    """Publish the renewal reminder stages that are due (run daily by beat; safe to repeat)."""
    return services.renewal_reminders_publish()
