from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator

from apps.core.admin import ReadOnlyAdmin
from apps.notifications import services
from apps.notifications.models import EmailLog, ReminderUnsubscribe


@admin.register(EmailLog)
class EmailLogAdmin(ReadOnlyAdmin):
    """A log, not a form: viewable, never edited or deleted (a deleted row would let the
    e-mail go out twice)."""

    list_display = [
        "dedupe_key",
        "to",
        "subject",
        "status",
        "attempts",
        "error_short",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "template"]
    search_fields = ["to", "dedupe_key", "subject"]
    readonly_fields = [f.name for f in EmailLog._meta.fields]
    date_hierarchy = "created_at"
    actions = ["send_again"]

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.change_emaillog")

    @admin.display(description="error")
    def error_short(self, obj: EmailLog) -> str:
        return Truncator(obj.error).chars(80)

    @admin.action(description="Send again (failed e-mails only)", permissions=["send"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[EmailLog]) -> None:
        """Queue the selected failed e-mails to be sent again."""
        ids = list(queryset.values_list("pk", flat=True))
        queued = services.email_send_again(email_log_ids=ids)
        skipped = len(ids) - queued
        if queued:
            self.message_user(request, f"Queued {queued} e-mail(s) to be sent again.")
        if skipped:
            self.message_user(
                request,
                f"Skipped {skipped} e-mail(s): only failed receipts, refund notices and "
                "reminders go again.",
                messages.WARNING,
            )


@admin.register(ReminderUnsubscribe)
class ReminderUnsubscribeAdmin(admin.ModelAdmin):
    """Who asked for no more renewal reminders; deleting a row sends them reminders again."""

    list_display = ["email", "customer", "created_at"]
    search_fields = ["email"]
    readonly_fields = ["email", "customer", "created_at", "updated_at"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Only the customer's own signed link unsubscribes (a staff member replies instead).
        return False
