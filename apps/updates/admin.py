from django.contrib import admin

from apps.updates.models import Release


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["product", "version", "channel", "is_published", "published_at"]
    list_filter = ["channel", "is_published", "product"]
    search_fields = ["product__name", "product__slug", "version"]
    readonly_fields = ["published_at", "created_at"]
