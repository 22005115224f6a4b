"""When a license may be used: the rules both the services and the selectors apply."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from django.conf import settings

from apps.core.errors import DomainError
from apps.licenses.models import License


class LicenseLike(Protocol):
    """A License row or its cached LicenseState: what the rules need."""

    @property
    def status(self) -> str: ...
    @property
    def expires_at(self) -> datetime | None: ...

    def is_expired(self, *, now: datetime | None = None) -> bool: ...


class LicenseRefused(DomainError):
    """An activation or check the license does not allow; `code` is EDD's status string."""


def license_refusal(license: LicenseLike, *, now: datetime | None = None) -> LicenseRefused | None:
    """Return why `license` cannot be used now (revoked, disabled, expired), or None."""
    if license.status == License.Status.REVOKED:
        return LicenseRefused("This license was revoked.", code="disabled")
    if license.status == License.Status.DISABLED:
        return LicenseRefused("This license is disabled.", code="disabled")
    if license.is_expired(now=now):
        assert license.expires_at is not None
        url = settings.DEPOT_ACCOUNT_URL
        renew = f"Renew it at {url} to get updates." if url else "Renew it to get updates."
        return LicenseRefused(
            f"This license expired on {license.expires_at:%B %-d, %Y}. {renew}", code="expired"
        )
    return None


def product_mismatch(*, licensed: str, asked: str) -> LicenseRefused:
    """Refuse a key sold for the product named `licensed` when `asked` (a name, or "") is used."""
    return LicenseRefused(
        f"This license key is for {licensed}, not {asked or 'this plugin'}.",
        code="item_name_mismatch",
    )


def no_slot_left(*, used: int, limit: int, staging_past_cap: bool = False) -> LicenseRefused:
    """Refuse a new site: name the limit and where the customer frees a site."""
    url = settings.DEPOT_ACCOUNT_URL
    where = f"in your account at {url}" if url else "in your account"
    past_cap = (
        f" Its {settings.DEPOT_FREE_STAGING_SITES} free staging copies are in use, "
        "so this one needs a site slot too."
        if staging_past_cap and settings.DEPOT_FREE_STAGING_SITES
        else ""
    )
    return LicenseRefused(
        f"This license is already active on {used} of {limit} sites. "
        f"Deactivate one of them {where}, or upgrade the license.{past_cap}",
        code="no_activations_left",
    )


def site_deactivated() -> LicenseRefused:
    """Refuse to take a slot back by an update check for a site that was deactivated."""
    return LicenseRefused(
        "This license was deactivated on this site, so it receives no updates here. To use it "
        "here again, activate it in the plugin's settings or ask the seller to.",
        code="site_inactive",
    )
