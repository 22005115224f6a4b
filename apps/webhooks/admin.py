"""The webhooks admin: endpoints (the secret shown once), deliveries with each try, replay.

Saves and the replay action go through apps.webhooks.services, as every admin page here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.admin import ReadOnlyAdmin
from apps.webhooks import services
from apps.webhooks.models import EVENT_TYPES, Delivery, DeliveryAttempt, Endpoint, WebhookEvent


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500, assume_scheme="https", help_text="Where Depot POSTs each event."
    )
    events = forms.MultipleChoiceField(
        choices=[(name, name) for name in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="The events sent to this URL.",
    )

    class Meta:
        model = Endpoint
        fields = ["url", "description", "events", "is_active"]

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        if not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("Enter an http:// or https:// address.")
        return url


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "description", "is_active", "consecutive_failures", "disabled_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]

    def get_fields(self, request: HttpRequest, obj: Endpoint | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("url", "description", "events", "is_active")
        return (
            "url",
            "description",
            "events",
            "is_active",
            "secret_hint",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
        )

    def get_readonly_fields(
        self, request: HttpRequest, obj: Endpoint | None = None
    ) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("secret_hint", "consecutive_failures", "disabled_at", "disabled_reason")

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        if change:
            return super().save_form(request, form, change)
        endpoint, secret = services.endpoint_create(
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
            is_active=form.cleaned_data["is_active"],
        )
        # The receiver needs it to verify signatures; the admin never shows it again.
        messages.warning(
            request,
            f"Copy the signing secret of {endpoint.url} now into the receiver; "
            f"it is not shown again: {secret}",
        )
        return endpoint

    def save_model(self, request: HttpRequest, obj: Endpoint, form: Any, change: bool) -> None:
        if change:
            services.endpoint_save(endpoint=obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if change:
            super().save_related(request, form, formsets, change)


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = (
        "number",
        "started_at",
        "duration_ms",
        "succeeded",
        "response_code",
        "error",
        "response_body",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "event_type",
        "event_id",
        "endpoint",
        "status",
        "attempts",
        "response_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event__type", "endpoint"]
    search_fields = ["event__event_id", "endpoint__url"]
    list_select_related = ["event", "endpoint"]
    inlines = [DeliveryAttemptInline]
    actions = ["replay"]
    readonly_fields = ["event_body"]

    @admin.display(description="type", ordering="event__type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.type

    @admin.display(description="event id", ordering="event__event_id")
    def event_id(self, obj: Delivery) -> str:
        return obj.event.event_id

    @admin.display(description="body sent")
    def event_body(self, obj: Delivery) -> str:
        return obj.event.body

    @admin.action(description="Send again (the same event id and body)")
    def replay(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = services.deliveries_replay(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} deliveries will be sent again.", messages.SUCCESS)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "created"]
    list_filter = ["type"]
    search_fields = ["event_id"]
