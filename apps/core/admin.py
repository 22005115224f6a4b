from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from apps.core.models import OutboxEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin for records only the application writes (logs, events, roll-ups): view only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def scope_clean(form: forms.BaseForm, cleaned: dict[str, Any], *, every: str, choose: str) -> None:
    """Refuse a product scope that is both "all products" and a list, or neither.

    Neither would grant nothing at all (coupons and publish tokens say "all" out loud).
    `every` ends "with the box ticked …", `choose` follows "Choose at least one product …".
    """
    all_products, products = cleaned.get("all_products"), cleaned.get("products")
    if all_products and products:
        raise forms.ValidationError(
            f"Either tick 'All products' or choose products, not both: with the box ticked {every}."
        )
    if not all_products and not products and "products" not in form.errors:
        raise forms.ValidationError(
            f"Choose at least one product {choose}, or tick 'All products'."
        )


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "created_at", "dispatched_at", "attempts"]
    list_filter = ["name", ("dispatched_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]
    readonly_fields = ["name", "payload", "created_at", "dispatched_at", "attempts", "last_error"]
