"""The store's reactions to its own durable events: fulfil a paid order in a task."""

from apps.core.events import subscriber
from apps.store.events import OrderPaid
from apps.store.tasks import order_fulfil_task


@subscriber(OrderPaid)
def on_order_paid(event: OrderPaid) -> None:
    order_fulfil_task.delay(order_id=event.order_id)
