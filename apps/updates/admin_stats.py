"""Read-only admin for the daily install tables, which only the statistics roll-up writes."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.updates.models import InstallDay, InstallVersionDay


class _ReadOnlyAdmin(admin.ModelAdmin):
    list_select_related = ["product"]
    date_hierarchy = "day"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(InstallDay)
class InstallDayAdmin(_ReadOnlyAdmin):
    list_display = ["day", "product", "sites", "checks"]
    list_filter = ["product"]


@admin.register(InstallVersionDay)
class InstallVersionDayAdmin(_ReadOnlyAdmin):
    list_display = ["day", "product", "dimension", "value", "sites"]
    list_filter = ["product", "dimension"]
    search_fields = ["value"]
