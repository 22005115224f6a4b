from django.contrib import admin

from apps.core.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "created_at", "dispatched_at", "attempts"]
    list_filter = ["name", ("dispatched_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]
    readonly_fields = ["name", "payload", "created_at", "dispatched_at", "attempts", "last_error"]
