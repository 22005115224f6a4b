"""E-mails that follow the store's durable events; each receiver only enqueues its task."""

from apps.core.events import subscriber
from apps.licenses.events import LicenseExpiring
from apps.notifications.tasks import (
    receipt_send_task,
    refund_notice_send_task,
    renewal_reminder_send_task,
)
from apps.store.events import OrderFulfilled, OrderRefunded

# LicenseIssued needs no receiver: the receipt waits for OrderFulfilled because that is when
# every line has its key, so one e-mail carries all of them (and renewals and upgrades too).


@subscriber(OrderFulfilled)
def on_order_fulfilled(event: OrderFulfilled) -> None:
    receipt_send_task.delay(order_id=event.order_id)


@subscriber(OrderRefunded)
def on_order_refunded(event: OrderRefunded) -> None:
    refund_notice_send_task.delay(order_id=event.order_id)


@subscriber(LicenseExpiring)
def on_license_expiring(event: LicenseExpiring) -> None:
    renewal_reminder_send_task.delay(license_id=event.license_id, stage=event.stage)
