from django.db import models

from apps.core.models import TimeStampedModel


class EmailLog(TimeStampedModel):
    """One e-mail Depot owes someone, and what became of it.

    `dedupe_key` (e.g. ``receipt:order:42``) is unique, so a retried or duplicated task
    cannot send the same message twice.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    dedupe_key = models.CharField(max_length=200, unique=True)
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    template = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="emaillog_status")]

    def __str__(self) -> str:
        return f"{self.template} to {self.to} ({self.status})"
