from django.conf import settings
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


class ReminderUnsubscribe(TimeStampedModel):
    """A customer who asked for no more renewal reminders, by e-mail address (casefolded).

    Reminders go to the license's e-mail, which is the customer's identity in the store (the
    account's username is that address); receipts and refund notices are still sent.
    """

    email = models.EmailField(unique=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "renewal reminder unsubscribe"

    def __str__(self) -> str:
        return self.email
