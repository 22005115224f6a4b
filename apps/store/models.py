from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from apps.core.models import TimeStampedModel
from apps.licenses.models import Product


def store_currency() -> str:
    return str(settings.DEPOT_CURRENCY)


class PriceTier(TimeStampedModel):
    """A way to buy a product: how many sites, for how long, at what price."""

    class Term(models.TextChoices):
        YEAR = "year", "1 year"
        LIFETIME = "lifetime", "Lifetime"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="tiers")
    name = models.CharField(max_length=100)
    sites_allowed = models.PositiveIntegerField(default=1, help_text="0 means unlimited sites.")
    term = models.CharField(max_length=10, choices=Term.choices, default=Term.YEAR)
    amount = models.PositiveIntegerField(help_text="Price in minor units (cents).")
    currency = models.CharField(max_length=3, default=store_currency)
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["product", "position", "amount"]
        constraints = [
            models.UniqueConstraint(fields=["product", "name"], name="tier_product_name")
        ]

    def __str__(self) -> str:
        return f"{self.product.name}: {self.name}"

    @property
    def sites_label(self) -> str:
        if self.sites_allowed == 0:
            return "Unlimited sites"
        return "1 site" if self.sites_allowed == 1 else f"{self.sites_allowed} sites"


class Order(TimeStampedModel):
    """A customer's purchase; lines say what was bought, totals are in minor units."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending payment"
        PAID = "paid", "Paid"
        FAILED = "failed", "Payment failed"
        REFUNDED = "refunded", "Refunded"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(max_length=20, unique=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
    )
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    currency = models.CharField(max_length=3, default=store_currency)
    subtotal = models.PositiveIntegerField(default=0)
    discount = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    gateway = models.CharField(max_length=30, blank=True)
    gateway_reference = models.CharField(max_length=255, blank=True, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="order_status_created")]

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    """One tier bought in an order: a new license, a renewal or an upgrade."""

    class Kind(models.TextChoices):
        NEW = "new", "New license"
        RENEWAL = "renewal", "Renewal"
        UPGRADE = "upgrade", "Upgrade"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    tier = models.ForeignKey(PriceTier, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.NEW)
    quantity = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    unit_amount = models.PositiveIntegerField()
    discount = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField()
    # For renewals and upgrades: the license the line extends (an id, licenses sits below).
    license_id = models.PositiveBigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.order.number}: {self.tier}"
