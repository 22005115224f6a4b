"""The admin site, which asks staff for a TOTP code when DEPOT_ADMIN_REQUIRE_2FA is on."""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.models import Device


class StaffOTPAuthenticationForm(OTPAdminAuthenticationForm):
    """django-otp's admin sign-in form, which takes a staff user's only device unasked.

    django-otp wants the device picked from a list it shows only after a first try; with one
    device (what staff_totp_enrol gives) the password and the code in one go are enough.
    """

    def _chosen_device(self, user: AbstractBaseUser) -> Device | None:
        device: Device | None = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, for_verify=True))
            if len(devices) == 1:
                device = devices[0]
        return device


class DepotAdminSite(OTPAdminSite):
    """django-otp's admin site, or Django's plain one while the setting is off.

    The setting is read on each request, not at import, so one process (a test) can see both.
    A password alone then leaves a staff user outside the admin, whichever page signed them in.
    """

    @property
    def login_form(self) -> type[AdminAuthenticationForm]:
        if settings.DEPOT_ADMIN_REQUIRE_2FA:
            return StaffOTPAuthenticationForm
        return AdminAuthenticationForm

    @property
    def login_template(self) -> str | None:
        if settings.DEPOT_ADMIN_REQUIRE_2FA:
            return OTPAdminSite.login_template
        return None

    def has_permission(self, request: HttpRequest) -> bool:
        if settings.DEPOT_ADMIN_REQUIRE_2FA:
            return super().has_permission(request)
        return AdminSite.has_permission(self, request)
