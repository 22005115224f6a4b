"""The customer account's forms: sign in by e-mail, the password link, a site, a plan."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.models import User

from apps.notifications import services as notification_services
from apps.store import selectors as store_selectors

logger = logging.getLogger(__name__)


class AccountLoginForm(AuthenticationForm):
    """Sign in with the e-mail of the order (or a username, for staff)."""

    username = forms.CharField(
        label="E-mail", max_length=254, widget=forms.TextInput(attrs={"autofocus": True})
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": (
            "That e-mail and password do not match an account. Never set a password? "
            "Ask for a link to set one below."
        ),
    }

    def clean_username(self) -> str:
        return store_selectors.login_username(identifier=self.cleaned_data["username"])


class AccountPasswordResetForm(PasswordResetForm):
    """Django's reset form, which also reaches accounts made at checkout (no password yet)."""

    def get_users(self, email: str) -> Iterable[User]:
        # Django leaves out users without a usable password; here those are exactly the
        # buyers whose account checkout created, and the e-mailed link is how they set one.
        return store_selectors.users_for_password_reset(email=email)

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        # The store's name, not the host name Django would put in the e-mail.
        context = {**context, "site_name": settings.DEPOT_SITE_NAME}
        user = context["user"]
        try:
            # Sent by the mail worker (the request does not wait on SMTP), which makes the
            # token, so no secret travels through the broker.
            notification_services.password_reset_request(
                user_id=user.pk,
                domain=context["domain"],
                use_https=context["protocol"] == "https",
            )
        except Exception:
            # Broker down: send it from the request as before, rather than promise a link
            # that never comes (the page is the same either way).
            logger.warning("broker unavailable; password link sent from the request")
            super().send_mail(
                subject_template_name,
                email_template_name,
                context,
                from_email,
                to_email,
                html_email_template_name,
            )


class SiteForm(forms.Form):
    site = forms.CharField(max_length=500)


class TierForm(forms.Form):
    tier = forms.IntegerField(min_value=1)
