from typing import Any

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


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "created_at", "dispatched_at", "attempts"]
    list_filter = ["name", ("dispatched_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]
    readonly_fields = ["name", "payload", "created_at", "dispatched_at", "attempts", "last_error"]
