from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import TimeStampedModel
from apps.licenses.catalogue import Product


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
    sha384 = models.CharField(max_length=96, blank=True, editable=False)
    size = models.PositiveBigIntegerField(default=0, editable=False)
    requires_wp = models.CharField("requires WordPress", max_length=20, blank=True)
    requires_php = models.CharField("requires PHP", max_length=20, blank=True)
    tested_up_to = models.CharField(max_length=20, blank=True)
    description = models.TextField(blank=True, help_text="readme.txt's Description section.")
    installation = models.TextField(blank=True, help_text="readme.txt's Installation section.")
    changelog = models.TextField(blank=True)
    upgrade_notice = models.TextField(blank=True)
    rollout_percent = models.PositiveSmallIntegerField(
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Share of licensed sites offered this release; each site's bucket is stable.",
    )
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


class PublishToken(models.Model):
    """A vendor's API token for publishing releases from a build pipeline.

    Only a SHA-256 of the token is stored; the token is shown once when it is created.
    """

    name = models.CharField(max_length=100, help_text="Who uses it, e.g. 'GitHub Actions'.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(max_length=8, editable=False)
    # An explicit flag, never "no products": deleting a token's last product leaves it
    # publishing nothing instead of everything.
    all_products = models.BooleanField(
        default=False,
        help_text="May publish every product, including ones added later. Leave it off and "
        "choose the products below for a narrower token.",
    )
    products = models.ManyToManyField(
        Product, blank=True, help_text="Products it may publish when 'All products' is off."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} …{self.token_hint}"


class InstallDay(models.Model):
    """Active installs of a product on one day: distinct sites that checked for updates."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sites = models.PositiveIntegerField(default=0)
    checks = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "day"], name="install_day_product_day")
        ]
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.product_id} {self.day}: {self.sites}"


class InstallVersionDay(models.Model):
    """How many sites ran each plugin, WordPress, PHP version or locale on one day."""

    class Dimension(models.TextChoices):
        PLUGIN = "plugin", "Plugin version"
        WP = "wp", "WordPress version"
        PHP = "php", "PHP version"
        LOCALE = "locale", "Locale"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    dimension = models.CharField(max_length=10, choices=Dimension.choices)
    value = models.CharField(max_length=50)
    sites = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "day", "dimension", "value"], name="install_version_day_unique"
            )
        ]
        ordering = ["-day", "dimension", "-sites"]

    def __str__(self) -> str:
        return f"{self.product_id} {self.day} {self.dimension}={self.value}: {self.sites}"
