from django.contrib import admin

from apps.notifications.models import EmailLog


@admin.register(EmailLog)
class EmailLogAdmin(admin.ModelAdmin):
    list_display = ["template", "to", "subject", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "template"]
    search_fields = ["to", "subject", "dedupe_key"]
    readonly_fields = [f.name for f in EmailLog._meta.fields]
