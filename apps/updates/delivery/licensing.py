"""License activation and deactivation for both EDD and native clients.

The outcome uses EDD's vocabulary (`error` codes, and `license` statuses on success); each
dialect renders it in its own shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apps.licenses.catalogue import Product
from apps.licenses.selectors import (
    LicenseState,
    license_key_digest,
    license_state_by_hash,
    license_state_by_id,
    license_state_product_refusal,
)
from apps.licenses.services import LicenseRefused, license_activate, license_deactivate
from apps.licenses.sites import site_normalise
from apps.updates import metrics

# The answer to a license request naming a plugin this server does not sell (EDD, native).
PRODUCT_NOT_SOLD = "This server does not sell the plugin that sent the request."


@dataclass(frozen=True)
class LicenseResult:
    """`ok` and, when not, EDD's error code; on success `status` is the license's status."""

    ok: bool
    code: str
    status: str
    message: str
    state: LicenseState | None = None
    site: str = ""


def _refuse(code: str, message: str, state: LicenseState | None = None) -> LicenseResult:
    return LicenseResult(False, code, "invalid", message, state)


def _licensed(
    key: str, product: Product | None, product_given: bool, mismatch_code: str | None
) -> LicenseState | LicenseResult:
    """Load the key's state (one lookup), or the refusal: unknown key, another product."""
    if not key:
        return _refuse("missing", "Enter a license key.")
    state = license_state_by_hash(key_hash=license_key_digest(key))
    if state is None:
        return _refuse("missing", "This license key does not exist. Check it in your account.")
    if product_given and product is None:
        return _refuse(mismatch_code or "invalid_item_id", PRODUCT_NOT_SOLD, state)
    if product is not None:
        mismatch = license_state_product_refusal(
            state, product_id=product.pk, product_name=product.name
        )
        if mismatch is not None:
            return _refuse(mismatch_code or mismatch.code, mismatch.message, state)
    return state


def _change(
    action: str,
    change: Callable[[LicenseState, str], LicenseResult],
    *,
    key: str,
    product: Product | None,
    product_given: bool,
    site_url: str | None,
    mismatch_code: str | None,
) -> LicenseResult:
    """Check the key, product and site shared by activation and deactivation, then change."""
    state = _licensed(key, product, product_given, mismatch_code)
    if isinstance(state, LicenseResult):
        result = state
    elif not site_url:
        result = _refuse("missing_url", f"The request did not say which site to {action}.", state)
    else:
        try:
            result = change(state, site_url)
        except LicenseRefused as refused:
            result = _refuse(refused.code, refused.message, state)
        except ValueError as exc:  # the site URL is not one
            result = _refuse("invalid_url", str(exc), state)
    metrics.license_actions.labels(action, "ok" if result.ok else result.code).inc()
    return result


def license_activation(
    *,
    key: str,
    product: Product | None,
    product_given: bool,
    site_url: str | None,
    environment: str = "",
    mismatch_code: str | None = None,
) -> LicenseResult:
    """Activate `key` on a site; EDD's error codes on refusal."""

    def activate(state: LicenseState, url: str) -> LicenseResult:
        activation = license_activate(
            license_id=state.license_id, site_url=url, environment=environment or None
        )
        after = license_state_by_id(license_id=state.license_id)
        message = "This license is now active on this site."
        return LicenseResult(True, "", "valid", message, after, activation.site)

    return _change(
        "activate",
        activate,
        key=key,
        product=product,
        product_given=product_given,
        site_url=site_url,
        mismatch_code=mismatch_code,
    )


def license_deactivation(
    *,
    key: str,
    product: Product | None,
    product_given: bool,
    site_url: str | None,
    mismatch_code: str | None = None,
) -> LicenseResult:
    """Deactivate `key` on a site; `ok` is False when it was not active there."""

    def deactivate(state: LicenseState, url: str) -> LicenseResult:
        site = site_normalise(url)
        was_active = license_deactivate(license_id=state.license_id, site_url=url)
        after = license_state_by_id(license_id=state.license_id)
        if not was_active:
            message = "This license was not active on this site."
            return LicenseResult(False, "site_inactive", "invalid", message, after, site)
        message = "This license is no longer active on this site."
        return LicenseResult(True, "", "deactivated", message, after, site)

    return _change(
        "deactivate",
        deactivate,
        key=key,
        product=product,
        product_given=product_given,
        site_url=site_url,
        mismatch_code=mismatch_code,
    )
