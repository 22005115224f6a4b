from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.models import TimeStampedModel


class ActivationPolicy(models.TextChoices):
    """When a site takes one of a license's slots."""

    ON_CHECK = "on_check", "On the first licensed update check"
    EXPLICIT = "explicit", "Only when the plugin activates the license"


class Product(TimeStampedModel):
    """A plugin sold in the store and served by the update API.

    It lives here, below both `store` and `updates`, so that either can point at it
    without importing the other.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True, help_text="The plugin's folder name.")
    edd_item_id = models.PositiveIntegerField(
        "EDD item id",
        null=True,
        blank=True,
        unique=True,
        help_text="The download id plugins sold through EDD send as item_id; keeps them working.",
    )
    # Plugins that never activate a license (every Plugin Update Checker client) send their
    # key with each check: on_check lets that check take a free slot for the site.
    activation = models.CharField(
        "site activation",
        max_length=10,
        choices=ActivationPolicy.choices,
        default=ActivationPolicy.ON_CHECK,
        help_text=(
            "How a site starts using a license. On check: the first licensed update check from "
            "a new site takes a free slot (PUC and native checks; EDD keeps its explicit "
            "activate_license). Explicit: only an activation request does."
        ),
    )
    description = models.TextField(blank=True)
    homepage = models.URLField(blank=True)
    author = models.CharField(max_length=200, blank=True)
    author_homepage = models.URLField(blank=True)
    # Artwork shown on WordPress's "View details" screen, served from a CDN or the bucket.
    banner_low = models.URLField("banner 772x250", blank=True)
    banner_high = models.URLField("banner 1544x500", blank=True)
    icon_1x = models.URLField("icon 128x128", blank=True)
    icon_2x = models.URLField("icon 256x256", blank=True)
    icon_svg = models.URLField("icon SVG", blank=True)
    is_active = models.BooleanField(default=True)
    # The newest stable release as the storefront shows it; apps.updates keeps these current
    # when it publishes (the store may not read releases itself).
    latest_version = models.CharField(max_length=50, blank=True, editable=False)
    latest_changelog = models.TextField(blank=True, editable=False)
    requires_wp = models.CharField(max_length=20, blank=True, editable=False)
    tested_up_to = models.CharField(max_length=20, blank=True, editable=False)
    released_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class License(TimeStampedModel):
    """A license key for one product, with an activation limit and an expiry.

    The key itself is never stored: `key_hash` (HMAC-SHA256 with a server secret) finds
    it, `key_encrypted` lets the customer see it again. See apps/licenses/keys.py.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"
        REVOKED = "revoked", "Revoked"

    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_encrypted = models.TextField(editable=False)
    key_hint = models.CharField(
        max_length=8, editable=False, help_text="Last characters of the key."
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="licenses")
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="licenses",
    )
    email = models.EmailField(db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    activation_limit = models.PositiveIntegerField(default=1, help_text="0 means unlimited sites.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty means lifetime.")
    # The price tier and order line it came from; plain ids because licenses sits below
    # the store and must not depend on it.
    price_id = models.PositiveBigIntegerField(null=True, blank=True)
    order_line_id = models.PositiveBigIntegerField(null=True, blank=True, unique=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.product} …{self.key_hint}"

    def is_expired(self, *, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class Activation(models.Model):
    """A site a license was activated on. Deactivating marks the row; nothing is deleted."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="activations")
    site = models.CharField(max_length=255, help_text="Normalised site URL (host and path).")
    site_url = models.CharField(max_length=500, help_text="The URL as the site sent it.")
    environment = models.CharField(max_length=20, default="production")
    is_staging = models.BooleanField(default=False, help_text="Staging sites use no activation.")
    is_active = models.BooleanField(default=True)
    activated_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["license", "site"], name="activation_license_site")
        ]
        indexes = [models.Index(fields=["license", "is_active"], name="activation_active")]

    def __str__(self) -> str:
        return self.site


class RenewalReminder(models.Model):
    """A renewal reminder stage published for a license's expiry: the once-only record.

    Written in the same transaction as the durable `LicenseExpiring` event, and unique per
    license, stage and expiry, so a beat task that runs twice (or two beats) publishes each
    stage once; a renewal moves the expiry, so next year's stages get rows of their own.
    """

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="reminders")
    stage = models.IntegerField(help_text="Days before the expiry (negative: after it).")
    expires_at = models.DateTimeField(help_text="The expiry the reminder was about.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["license", "stage", "expires_at"], name="renewalreminder_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.license_id} at {self.stage} days"
