"""Hooks django-axes calls on every sign-in, the admin's and the store's alike.

Axes counts failed sign-ins per account and per address in the database (no Redis on this
path) and locks either out for AXES_COOLOFF_TIME after AXES_FAILURE_LIMIT failures. These
hooks name the account the same way whatever its spelling, and answer a locked-out sign-in
with the page it came from, saying why and for how long, as HTTP 429.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from apps.core.throttle import minutes


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """Return the account a sign-in attempt is for, case-folded.

    MariaDB compares usernames without regard to case, so "Boss" signs in as "boss": counting
    them apart would let a guesser multiply the per-account limit.
    """
    field = str(getattr(settings, "AXES_USERNAME_FORM_FIELD", "username"))
    username = (credentials or {}).get(field) or request.POST.get(field, "")
    return str(username).strip().casefold()


def lockout_message() -> str:
    """Say that sign-in is locked and for how long."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    return f"Too many failed sign-ins; try again in {minutes(seconds)}."


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """Answer a locked-out sign-in: its own sign-in page with the reason, as 429."""
    message = lockout_message()
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    context = getattr(original_response, "context_data", None) or {}
    form = context.get("form")
    if isinstance(original_response, TemplateResponse) and isinstance(form, forms.Form):
        # The login page the view rendered (the store's or the admin's), shown again with the
        # lock-out in place of "wrong password": the attempt was refused, not checked.
        form.errors.clear()
        form.add_error(None, message)
        original_response.content = original_response.rendered_content
        original_response.status_code = 429
        original_response["Retry-After"] = retry_after
        return original_response
    return HttpResponse(
        message,
        status=429,
        content_type="text/plain; charset=utf-8",
        headers={"Retry-After": retry_after},
    )
