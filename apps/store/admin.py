from django.contrib import admin

from apps.store.models import Order, OrderLine, PriceTier


@admin.register(PriceTier)
class PriceTierAdmin(admin.ModelAdmin):
    list_display = ["product", "name", "sites_allowed", "term", "amount", "currency", "is_active"]
    list_filter = ["product", "term", "is_active"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    raw_id_fields = ["tier"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "email", "status", "total", "currency", "created_at", "paid_at"]
    list_filter = ["status", "gateway"]
    search_fields = ["number", "email", "name", "gateway_reference"]
    raw_id_fields = ["customer"]
    inlines = [OrderLineInline]
