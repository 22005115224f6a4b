"""License activation, deactivation and check for both EDD and native clients.

The outcome uses EDD's vocabulary (`error` codes and `license` statuses); each dialect
renders it in its own shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.licenses.models import Product
from apps.licenses.rules import LicenseRefused
from apps.licenses.selectors import (
    LicenseState,
    license_by_key,
    license_state_by_id,
)
from apps.licenses.services import license_activate, license_deactivate
from apps.licenses.sites import site_normalise
from apps.updates import metrics


@dataclass(frozen=True)
class LicenseResult:
    """`ok` and, when not, EDD's error code; `status` is the license's state afterwards."""

    ok: bool
    code: str
    status: str
    message: str
    state: LicenseState | None = None
    site: str = ""


def _refuse(
    code: str, message: str, status: str = "invalid", state: LicenseState | None = None
) -> LicenseResult:
    return LicenseResult(False, code, status, message, state)


def _licensed(
    key: str, product: Product | None, product_given: bool, mismatch_code: str | None
) -> tuple[LicenseState | None, LicenseResult | None]:
    if not key:
        return None, _refuse("missing", "Enter a license key.")
    license = license_by_key(key=key)
    if license is None:
        return None, _refuse(
            "missing", "This license key does not exist. Check it in your account."
        )
    state = license_state_by_id(license_id=license.pk)
    assert state is not None
    if product_given and product is None:
        return state, _refuse(
            mismatch_code or "invalid_item_id",
            "This server does not sell the plugin that sent the request.",
            state=state,
        )
    if product is not None and state.product_id != product.pk:
        return state, _refuse(
            mismatch_code or "item_name_mismatch",
            f"This license key is for {state.product_name}, not {product.name}.",
            "item_name_mismatch",
            state,
        )
    return state, None


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
    state, refusal = _licensed(key, product, product_given, mismatch_code)
    if refusal is not None:
        metrics.license_actions.labels("activate", refusal.code).inc()
        return refusal
    assert state is not None
    if not site_url:
        return _refuse(
            "missing_url", "The request did not say which site to activate.", state=state
        )
    try:
        site = site_normalise(site_url)
        license_activate(
            license_id=state.license_id, site_url=site_url, environment=environment or None
        )
    except LicenseRefused as refused:
        metrics.license_actions.labels("activate", refused.code).inc()
        return _refuse(
            refused.code,
            refused.message,
            refused.code if refused.code != "no_activations_left" else "valid",
            state,
        )
    except ValueError as exc:
        return _refuse("invalid_url", str(exc), state=state)
    after = license_state_by_id(license_id=state.license_id)
    metrics.license_actions.labels("activate", "ok").inc()
    return LicenseResult(True, "", "valid", "This license is now active on this site.", after, site)


def license_deactivation(
    *,
    key: str,
    product: Product | None,
    product_given: bool,
    site_url: str | None,
    mismatch_code: str | None = None,
) -> LicenseResult:
    """Deactivate `key` on a site; `ok` is False when it was not active there."""
    state, refusal = _licensed(key, product, product_given, mismatch_code)
    if refusal is not None:
        metrics.license_actions.labels("deactivate", refusal.code).inc()
        return refusal
    assert state is not None
    if not site_url:
        return _refuse(
            "missing_url", "The request did not say which site to deactivate.", state=state
        )
    try:
        site = site_normalise(site_url)
        was_active = license_deactivate(license_id=state.license_id, site_url=site_url)
    except ValueError as exc:
        return _refuse("invalid_url", str(exc), state=state)
    after = license_state_by_id(license_id=state.license_id)
    metrics.license_actions.labels("deactivate", "ok" if was_active else "not_active").inc()
    if not was_active:
        return LicenseResult(
            False,
            "site_inactive",
            "site_inactive",
            "This license was not active on this site.",
            after,
            site,
        )
    return LicenseResult(
        True, "", "deactivated", "This license is no longer active on this site.", after, site
    )
