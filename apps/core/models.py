from django.db import models


class TimeStampedModel(models.Model):
    """Base model that records when a row was created and last changed."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class OutboxEvent(models.Model):
    """An event written in the same transaction as the change it announces.

    A Celery task delivers it after commit; the sweeper re-sends rows that stay undelivered
    (broker down, process killed), so an event is never lost between commit and delivery.
    """

    name = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Who caused the event: the W3C trace context (traceparent, tracestate) of the span that
    # wrote the row and the request id, so its delivery, even a swept one, joins that trace.
    trace_context = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["dispatched_at", "created_at"], name="outbox_pending")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"
