"""The licensing admin. Every save, delete and bulk action goes through apps.licenses.services,
which publish the change after commit, so the update API stops serving a disabled license at
once instead of from its cache for up to a day.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest

from apps.licenses.models import Activation, License, Product
from apps.licenses.services import (
    activation_save,
    activations_delete,
    license_activations_reset,
    license_save,
    license_status_set,
    product_save,
    products_delete,
)
from apps.licenses.sites import site_normalise


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "edd_item_id", "activation", "is_active", "created_at"]
    list_filter = ["is_active", "activation"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        product_save(product=obj)

    def delete_model(self, request: HttpRequest, obj: Product) -> None:
        products_delete(product_ids=[obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        products_delete(product_ids=list(queryset.values_list("pk", flat=True)))


class ActivationInline(admin.TabularInline):
    model = Activation
    extra = 0
    fields = ("site", "environment", "is_staging", "is_active", "activated_at", "deactivated_at")
    readonly_fields = fields
    # Rows may be deleted here (LicenseAdmin.save_formset); sites are added by the clients or
    # on the Activations page.
    can_delete = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _bulk(request: HttpRequest, queryset: QuerySet[License], change: Any, done: str) -> None:
    ids = list(queryset.values_list("pk", flat=True))
    for license_id in ids:
        change(license_id)
    messages.success(request, f"{len(ids)} license(s) {done}.")


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = ["__str__", "product", "email", "status", "activation_limit", "expires_at"]
    list_filter = ["status", "product"]
    search_fields = ["email", "key_hint"]
    readonly_fields = ["key_hint", "price_id", "order_line_id", "revoked_at", "created_at"]
    raw_id_fields = ["customer"]
    inlines = [ActivationInline]
    actions = ["disable", "enable", "revoke", "reset_sites"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A license is the record of a sale and its key; revoke or disable it instead.
        return False

    def save_model(self, request: HttpRequest, obj: License, form: Any, change: bool) -> None:
        license_save(license=obj)

    def save_formset(
        self, request: HttpRequest, form: Any, formset: BaseInlineFormSet, change: bool
    ) -> None:
        instances = formset.save(commit=False)
        if formset.deleted_objects:
            activations_delete(activation_ids=[row.pk for row in formset.deleted_objects])
        for activation in instances:
            activation_save(activation=activation)

    @admin.action(description="Disable selected licenses (no updates, no activations)")
    def disable(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        _bulk(
            request,
            queryset,
            lambda pk: license_status_set(license_id=pk, status=License.Status.DISABLED),
            "disabled",
        )

    @admin.action(description="Enable selected licenses")
    def enable(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        _bulk(
            request,
            queryset,
            lambda pk: license_status_set(license_id=pk, status=License.Status.ACTIVE),
            "enabled",
        )

    @admin.action(description="Revoke selected licenses (a refund, abuse)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        _bulk(
            request,
            queryset,
            lambda pk: license_status_set(license_id=pk, status=License.Status.REVOKED),
            "revoked",
        )

    @admin.action(description="Deactivate every site of selected licenses")
    def reset_sites(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        _bulk(
            request,
            queryset,
            lambda pk: license_activations_reset(license_id=pk),
            "deactivated on every site",
        )


class ActivationForm(forms.ModelForm):
    class Meta:
        model = Activation
        fields = [
            "license",
            "site",
            "site_url",
            "environment",
            "is_staging",
            "is_active",
            "deactivated_at",
            "last_checked_at",
        ]

    def clean_site(self) -> str:
        # Checks compare normalised sites; a site typed as a URL would never match one.
        try:
            return site_normalise(self.cleaned_data["site"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(Activation)
class ActivationAdmin(admin.ModelAdmin):
    form = ActivationForm
    list_display = ["site", "license", "environment", "is_staging", "is_active", "activated_at"]
    list_filter = ["is_active", "is_staging", "environment"]
    search_fields = ["site"]
    raw_id_fields = ["license"]

    def save_model(self, request: HttpRequest, obj: Activation, form: Any, change: bool) -> None:
        activation_save(activation=obj)

    def delete_model(self, request: HttpRequest, obj: Activation) -> None:
        activations_delete(activation_ids=[obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Activation]) -> None:
        activations_delete(activation_ids=list(queryset.values_list("pk", flat=True)))
