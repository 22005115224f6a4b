"""Outgoing webhooks: the vendor's endpoints, the events sent to them, each delivery and try."""

from __future__ import annotations

from django.db import models

from apps.core.models import TimeStampedModel

# The event types an endpoint may subscribe to, in the order the admin lists them.
EVENT_TYPES = (
    "order.paid",
    "order.refunded",
    "license.issued",
    "license.renewed",
    "license.upgraded",
    "license.revoked",
    "license.expiring",
    "activation.created",
    "activation.removed",
    "release.published",
)


class Endpoint(TimeStampedModel):
    """A URL of the vendor's (a CRM, a newsletter tool) and the events it wants."""

    url = models.URLField(max_length=500, help_text="Where Depot POSTs each event (https://…).")
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="The event types sent to this URL.")
    # The receiver verifies signatures with the same secret, so it cannot be a one-way hash:
    # it is kept encrypted (Fernet, the license keys' encryption key) and shown once.
    secret_encrypted = models.TextField(editable=False)
    secret_hint = models.CharField(max_length=8, editable=False)
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)

    class Meta:
        ordering = ["url"]

    def __str__(self) -> str:
        return self.description or self.url


class WebhookEvent(models.Model):
    """One event as sent: its id and body never change, so a replay is the same event."""

    event_id = models.CharField(max_length=40, unique=True)
    type = models.CharField(max_length=40, db_index=True)
    created = models.DateTimeField(db_index=True)
    body = models.TextField(help_text="The JSON document POSTed, byte for byte.")

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class Delivery(models.Model):
    """One event for one endpoint: its state and the schedule of its next try."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # A lease: a task that took the delivery until then; a duplicate task skips it.
    claimed_until = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_once_per_endpoint")
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"


class DeliveryAttempt(models.Model):
    """One HTTP request of a delivery: what came back, and how long it took."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    succeeded = models.BooleanField(default=False)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first 1 KB of the answer.")
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"try {self.number} of {self.delivery_id}"
