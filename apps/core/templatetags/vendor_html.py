"""`{{ value|vendor_html }}`: release text a vendor wrote, shown as sanitised HTML."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from apps.core.html import html_safe

register = template.Library()


@register.filter
def vendor_html(value: object) -> SafeString:
    """Sanitise `value` with the allow-list and mark the result safe to print."""
    return html_safe(value)
