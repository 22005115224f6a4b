from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.licenses.models import Activation, License, Product
from apps.licenses.services import product_save


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        product_save(product=obj)


class ActivationInline(admin.TabularInline):
    model = Activation
    extra = 0
    fields = ("site", "environment", "is_staging", "is_active", "activated_at", "deactivated_at")
    readonly_fields = fields
    can_delete = False


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = ["__str__", "product", "email", "status", "activation_limit", "expires_at"]
    list_filter = ["status", "product"]
    search_fields = ["email", "key_hint"]
    readonly_fields = ["key_hint", "price_id", "order_line_id", "revoked_at", "created_at"]
    raw_id_fields = ["customer"]
    inlines = [ActivationInline]


@admin.register(Activation)
class ActivationAdmin(admin.ModelAdmin):
    list_display = ["site", "license", "environment", "is_staging", "is_active", "activated_at"]
    list_filter = ["is_active", "is_staging", "environment"]
    search_fields = ["site"]
    raw_id_fields = ["license"]
