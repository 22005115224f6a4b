"""The `data` object of each event type, read through the owning apps' selectors.

Taken when the event is recorded (in the outbox's delivery), not when it is sent: a retry a
day later, or a replay, sends what was true when it happened, under the same id.
License keys are never sent, only their last four characters.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist

from apps.licenses import selectors as license_selectors
from apps.store import selectors as store_selectors
from apps.updates import selectors as update_selectors

if TYPE_CHECKING:
    from apps.licenses.models import License


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def license_data(license: License) -> dict[str, Any]:
    """Return a license as webhook data (no key, only its hint)."""
    return {
        "object": "license",
        "id": license.pk,
        "product": license.product.slug,
        "email": license.email,
        "status": license.status,
        "key_hint": license.key_hint,
        "activation_limit": license.activation_limit,
        "expires_at": _time(license.expires_at),
        "order_line_id": license.order_line_id,
        "revoked_at": _time(license.revoked_at),
    }


def license_data_by_id(license_id: int) -> dict[str, Any] | None:
    """Return the license with this id as webhook data, or None if it is gone."""
    license = license_selectors.licenses_by_ids(license_ids=[license_id]).get(license_id)
    return license_data(license) if license is not None else None


def order_data(order_id: int) -> dict[str, Any] | None:
    """Return an order and its lines (with their licenses) as webhook data."""
    try:
        order = store_selectors.order_by_id(order_id=order_id)
    except ObjectDoesNotExist:
        return None
    lines = store_selectors.order_lines_with_licenses(order=order)
    return {
        "object": "order",
        "id": order.pk,
        "number": order.number,
        "status": order.status,
        "email": order.email,
        "name": order.name,
        "country": order.country,
        "currency": order.currency,
        "subtotal": order.subtotal,
        "discount": order.discount,
        "total": order.total,
        "coupon": order.coupon.code if order.coupon else None,
        "created_at": _time(order.created_at),
        "paid_at": _time(order.paid_at),
        "refunded_at": _time(order.refunded_at),
        "lines": [
            {
                "kind": view.line.kind,
                "product": view.line.product.slug,
                "tier": view.line.tier.name,
                "quantity": view.line.quantity,
                "total": view.line.total,
                "license": license_data(view.license) if view.license is not None else None,
            }
            for view in lines
        ],
    }


def activation_data(license_id: int, site: str) -> dict[str, Any] | None:
    """Return a site's activation (the site and its license) as webhook data."""
    license = license_data_by_id(license_id)
    if license is None:
        return None
    return {"object": "activation", "site": site, "license": license}


def release_data(release_id: int) -> dict[str, Any] | None:
    """Return a published release as webhook data (no download link: those are per license)."""
    release = update_selectors.release_by_id(release_id=release_id)
    if release is None:
        return None
    return {
        "object": "release",
        "id": release.pk,
        "product": release.product.slug,
        "version": release.version,
        "channel": release.channel,
        "requires_wp": release.requires_wp,
        "requires_php": release.requires_php,
        "tested_up_to": release.tested_up_to,
        "published_at": _time(release.published_at),
    }
