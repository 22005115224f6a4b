"""The store in the admin: orders (refunds go through services), coupons, customers, Stripe."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from apps.core.admin import ReadOnlyAdmin, scope_clean
from apps.core.errors import DomainError
from apps.licenses import selectors as license_selectors
from apps.store import services
from apps.store.models import (
    Coupon,
    Customer,
    Order,
    OrderLine,
    Payment,
    PriceTier,
    ProductScreenshot,
    StripeEvent,
)
from apps.store.templatetags.money import money


@admin.register(PriceTier)
class PriceTierAdmin(admin.ModelAdmin):
    list_display = ["product", "name", "sites_allowed", "term", "amount", "currency", "is_active"]
    list_filter = ["product", "term", "is_active"]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = readonly_fields = (
        "product",
        "tier",
        "kind",
        "quantity",
        "unit_amount",
        "discount",
        "total",
        "license_id",
        "fulfilled_at",
    )


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = readonly_fields = (
        "created_at",
        "gateway",
        "status",
        "amount",
        "currency",
        "reference",
        "error",
    )


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "email", "status", "total_shown", "gateway", "created_at", "paid_at"]
    list_filter = ["status", "gateway", "created_at"]
    search_fields = ["number", "email", "name", "gateway_reference"]
    date_hierarchy = "created_at"
    raw_id_fields = ["customer"]
    # Money and state change only through services (checkout, webhooks, the refund action).
    readonly_fields = [
        "number",
        "status",
        "currency",
        "subtotal",
        "discount",
        "total",
        "coupon",
        "gateway",
        "gateway_reference",
        "created_at",
        "paid_at",
        "fulfilled_at",
        "refunded_at",
    ]
    fields = ["email", "name", "country", "customer", *readonly_fields]
    inlines = [OrderLineInline, PaymentInline]
    actions = ["refund_orders"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders come from checkout, where payment and coupons are checked

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a paid order is the record of the licenses it issued

    @admin.display(description="Total", ordering="total")
    def total_shown(self, order: Order) -> str:
        return money(order.total, order.currency)

    @admin.action(description="Refund selected orders", permissions=["change"])
    def refund_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        """Refund each order through its gateway and revoke its licenses; say what happened."""
        reason = f"Refunded in the admin by {request.user.get_username()}"
        for order_id, number, status in queryset.order_by("pk").values_list(
            "pk", "number", "status"
        ):
            if status == Order.Status.REFUNDED:
                messages.info(request, f"Order {number} was already refunded; nothing changed.")
                continue
            try:
                services.order_refund(order_id=order_id, via_gateway=True, reason=reason)
            except DomainError as refused:  # Conflict, GatewayUnavailable
                messages.error(request, f"Order {number} was not refunded: {refused.message}")
            else:
                messages.success(request, f"Order {number} refunded; its licenses are revoked.")


class CouponForm(forms.ModelForm):
    """A coupon says which products it discounts: every one, or those chosen, never neither."""

    class Meta:
        model = Coupon
        fields = ["code", "kind", "value", "all_products", "products", "expires_at"]
        fields += ["usage_limit", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        scope_clean(
            self, cleaned, every="the coupon discounts every product", choose="for this coupon"
        )
        return cleaned


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    form = CouponForm
    list_display = ["code", "kind", "value", "all_products", "expires_at", "usage_limit"]
    list_display += ["times_used", "is_active"]
    list_filter = ["kind", "all_products", "is_active"]
    search_fields = ["code"]
    fields = ["code", "kind", "value", "all_products", "products", "expires_at", "usage_limit"]
    fields += ["times_used", "is_active"]
    readonly_fields = ["times_used"]
    filter_horizontal = ["products"]


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    """Who bought what: read-only; accounts themselves are edited under Users."""

    list_display = ["email", "full_name", "date_joined", "order_count"]
    search_fields = ["email", "first_name", "last_name"]
    ordering = ["-date_joined"]
    fields = readonly_fields = (
        "email",
        "full_name",
        "date_joined",
        "last_login",
        "orders_list",
        "licenses_list",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        return super().get_queryset(request).annotate(order_total=Count("orders"))

    @admin.display(description="Name", ordering="last_name")
    def full_name(self, customer: Customer) -> str:
        return customer.get_full_name()

    @admin.display(description="Orders", ordering="order_total")
    def order_count(self, customer: Customer) -> int:
        return int(getattr(customer, "order_total", 0))

    @admin.display(description="Orders")
    def orders_list(self, customer: Customer) -> SafeString | str:
        rows = [
            (
                reverse("admin:store_order_change", args=[order.pk]),
                order.number,
                order.get_status_display(),
                money(order.total, order.currency),
                f"{order.created_at:%Y-%m-%d}",
            )
            for order in Order.objects.filter(customer_id=customer.pk).order_by("-created_at")
        ]
        if not rows:
            return "No orders."
        return format_html_join("", '<div><a href="{}">{}</a> · {} · {} · {}</div>', rows)

    @admin.display(description="Licenses")
    def licenses_list(self, customer: Customer) -> SafeString | str:
        rows = [
            (
                reverse("admin:licenses_license_change", args=[license.pk]),
                license.product.name,
                license.key_hint,
                license.get_status_display(),
                f"{license.expires_at:%Y-%m-%d}" if license.expires_at else "lifetime",
            )
            for license in license_selectors.licenses_of_customer(customer_id=customer.pk)
        ]
        if not rows:
            return "No licenses."
        return format_html_join("", '<div><a href="{}">{} …{}</a> · {} · {}</div>', rows)


@admin.register(ProductScreenshot)
class ProductScreenshotAdmin(admin.ModelAdmin):
    """Screenshots on a plugin's store page (the product admin belongs to licenses)."""

    list_display = ["product", "position", "caption", "image"]
    list_filter = ["product"]
    list_editable = ["position"]
    search_fields = ["product__name", "caption"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    """What Stripe told the store and what came of it; a record, never edited."""

    list_display = ["event_id", "type", "outcome", "order", "created", "received_at"]
    list_filter = ["type"]
    search_fields = ["event_id", "order__number", "outcome"]
    list_select_related = ["order"]
    fields = readonly_fields = (
        "event_id",
        "type",
        "created",
        "received_at",
        "order",
        "outcome",
        "payload_shown",
    )

    @admin.display(description="Payload")
    def payload_shown(self, event: StripeEvent) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(event.payload, indent=2, sort_keys=True))
