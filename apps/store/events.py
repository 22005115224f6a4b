from dataclasses import dataclass

from apps.core.events import Event


@dataclass(frozen=True)
class OrderPaid(Event):
    order_id: int


@dataclass(frozen=True)
class OrderRefunded(Event):
    order_id: int
