"""Webhook events from the durable domain events of store, licenses and updates.

Each subscriber runs in the outbox's delivery of its event (a Celery task), and records the
webhook event and its deliveries in that same transaction (webhook_event_record): so the
event is recorded exactly once, and a crash before the commit leaves the outbox row to be
retried. The HTTP requests are tasks of their own, sent after that commit.
"""

from __future__ import annotations

from typing import Any

from apps.core.events import subscriber
from apps.licenses.events import (
    ActivationCreated,
    ActivationRemoved,
    LicenseExpiring,
    LicenseIssued,
    LicenseRenewed,
    LicenseRevoked,
    LicenseUpgraded,
)
from apps.store.events import OrderPaid, OrderRefunded
from apps.updates.events import ReleasePublished
from apps.webhooks import payloads
from apps.webhooks.services import webhook_event_record


def _record(type: str, data: dict[str, Any] | None) -> None:
    if data is not None:  # the object was deleted before the event was delivered
        webhook_event_record(type=type, data=data)


@subscriber(OrderPaid)
def on_order_paid(event: OrderPaid) -> None:
    _record("order.paid", payloads.order_data(event.order_id))


@subscriber(OrderRefunded)
def on_order_refunded(event: OrderRefunded) -> None:
    _record("order.refunded", payloads.order_data(event.order_id))


@subscriber(LicenseIssued)
def on_license_issued(event: LicenseIssued) -> None:
    _record("license.issued", payloads.license_data_by_id(event.license_id))


@subscriber(LicenseRenewed)
def on_license_renewed(event: LicenseRenewed) -> None:
    _record("license.renewed", payloads.license_data_by_id(event.license_id))


@subscriber(LicenseUpgraded)
def on_license_upgraded(event: LicenseUpgraded) -> None:
    _record("license.upgraded", payloads.license_data_by_id(event.license_id))


@subscriber(LicenseRevoked)
def on_license_revoked(event: LicenseRevoked) -> None:
    _record("license.revoked", payloads.license_data_by_id(event.license_id))


@subscriber(LicenseExpiring)
def on_license_expiring(event: LicenseExpiring) -> None:
    data = payloads.license_data_by_id(event.license_id)
    if data is not None:
        # Days before the expiry this reminder stage is (negative: after it).
        data["stage"] = event.stage
    _record("license.expiring", data)


@subscriber(ActivationCreated)
def on_activation_created(event: ActivationCreated) -> None:
    _record("activation.created", payloads.activation_data(event.license_id, event.site))


@subscriber(ActivationRemoved)
def on_activation_removed(event: ActivationRemoved) -> None:
    _record("activation.removed", payloads.activation_data(event.license_id, event.site))


@subscriber(ReleasePublished)
def on_release_published(event: ReleasePublished) -> None:
    _record("release.published", payloads.release_data(event.release_id))
