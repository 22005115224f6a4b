from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.validators import FileExtensionValidator, MinValueValidator
from django.db import models

from apps.core.models import TimeStampedModel
from apps.licenses.catalogue import Product
from apps.licenses.sites import sites_label


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
        return sites_label(self.sites_allowed)


class Coupon(TimeStampedModel):
    """A discount code: percent or fixed amount off, limited in time, uses or products."""

    class Kind(models.TextChoices):
        PERCENT = "percent", "Percent off"
        FIXED = "fixed", "Fixed amount off"

    code = models.CharField(max_length=40, unique=True, help_text="Stored in capitals.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PERCENT)
    value = models.PositiveIntegerField(
        help_text="Percent (1-100) for a percentage, minor units (cents) for a fixed amount."
    )
    # An explicit flag, never "no products": deleting a coupon's last product leaves it
    # applying to nothing instead of to everything.
    all_products = models.BooleanField(
        default=True,
        help_text="Applies to every product, including ones added later. Untick it to choose "
        "the products below.",
    )
    products = models.ManyToManyField(
        Product,
        blank=True,
        related_name="+",
        help_text="The products it applies to when 'All products' is off.",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    usage_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many orders may use it; empty means no limit."
    )
    times_used = models.PositiveIntegerField(default=0, editable=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def save(self, *args: object, **kwargs: object) -> None:
        self.code = self.code.strip().upper()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


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
    # Set once every line has its license (issued, renewed or upgraded); the receipt follows.
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    coupon = models.ForeignKey(
        Coupon, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    # The checkout form's one-time token: a second submission of the same form finds this
    # order instead of making another (unique, so even concurrent submissions cannot).
    checkout_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # Lets a guest open the confirmation page from the receipt without signing in.
    access_key = models.CharField(max_length=64, blank=True, editable=False)

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
    # The license the line issued, renewed or upgraded (an id: licenses sits below the store).
    license_id = models.PositiveBigIntegerField(null=True, blank=True)
    # What the license was before a renewal or upgrade, so a refund can put it back.
    previous_expires_at = models.DateTimeField(null=True, blank=True)
    previous_tier = models.ForeignKey(
        PriceTier, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    fulfilled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.order.number}: {self.tier}"


class Payment(TimeStampedModel):
    """One attempt to take (or give back) money for an order through a gateway."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        DECLINED = "declined", "Declined"
        REFUNDED = "refunded", "Refunded"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payments")
    gateway = models.CharField(max_length=30)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=255, blank=True, db_index=True)
    # Sent to the gateway, so a retried request cannot charge twice (unique here too).
    idempotency_key = models.CharField(max_length=100, unique=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.gateway} {self.status} {self.amount} for {self.order_id}"


class StripeEvent(models.Model):
    """A Stripe webhook event, stored once by its id so a redelivery changes nothing."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    received_at = models.DateTimeField(auto_now_add=True)
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="stripe_events"
    )
    outcome = models.CharField(max_length=200, blank=True)
    payload = models.JSONField(default=dict)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class Customer(User):
    """The admin's view of a customer: a user with their orders and licenses."""

    class Meta:
        proxy = True
        verbose_name = "customer"


def screenshot_upload_to(instance: ProductScreenshot, filename: str) -> str:
    return f"products/{instance.product.slug}/screenshots/{filename}"


class ProductScreenshot(models.Model):
    """A screenshot on the plugin's store page, stored on the storage backend (S3)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="screenshots")
    image = models.FileField(
        upload_to=screenshot_upload_to,
        max_length=300,
        validators=[FileExtensionValidator(["png", "jpg", "jpeg", "gif", "webp"])],
    )
    caption = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["product", "position", "pk"]

    def __str__(self) -> str:
        return self.caption or self.image.name
