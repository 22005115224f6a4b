"""`{{ value|vendor_html }}`: release text a vendor wrote, shown as sanitised HTML."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from apps.core.html import html_sanitise

register = template.Library()


@register.filter
def vendor_html(value: object) -> SafeString:
    """Sanitise `value` with the allow-list and mark the result safe to print."""
    # Stored release text is sanitised when it is written; sanitising again where it is
    # printed covers rows from any other writer, and costs microseconds.
    return mark_safe(html_sanitise(str(value or "")))  # noqa: S308 (sanitised just above)
