"""Read-only admin for the daily install tables, which only the statistics roll-up writes."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.updates.models import InstallDay, InstallVersionDay


class _InstallTableAdmin(ReadOnlyAdmin):
    list_select_related = ["product"]
    date_hierarchy = "day"


@admin.register(InstallDay)
class InstallDayAdmin(_InstallTableAdmin):
    list_display = ["day", "product", "sites", "checks"]
    list_filter = ["product"]


@admin.register(InstallVersionDay)
class InstallVersionDayAdmin(_InstallTableAdmin):
    list_display = ["day", "product", "dimension", "value", "sites"]
    list_filter = ["product", "dimension"]
    search_fields = ["value"]
