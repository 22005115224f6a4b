from django.db import models

from apps.core.models import TimeStampedModel
from apps.licenses.models import Product


def release_upload_to(release: "Release", filename: str) -> str:
    return f"releases/{release.product.slug}/{release.product.slug}-{release.version}.zip"


class Release(TimeStampedModel):
    """One version of a plugin's zip, published to a channel."""

    class Channel(models.TextChoices):
        STABLE = "stable", "Stable"
        BETA = "beta", "Beta"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="releases")
    version = models.CharField(max_length=50)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.STABLE)
    zip_file = models.FileField(upload_to=release_upload_to, max_length=300)
    requires_wp = models.CharField("requires WordPress", max_length=20, blank=True)
    requires_php = models.CharField("requires PHP", max_length=20, blank=True)
    tested_up_to = models.CharField(max_length=20, blank=True)
    changelog = models.TextField(blank=True)
    upgrade_notice = models.TextField(blank=True)
    is_published = models.BooleanField(default=False)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="release_product_version")
        ]
        indexes = [
            models.Index(fields=["product", "channel", "is_published"], name="release_lookup")
        ]
        ordering = ["-published_at", "-created_at"]

    def __str__(self) -> str:
        return f"{self.product.slug} {self.version} ({self.channel})"
