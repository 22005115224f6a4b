from dataclasses import dataclass

from apps.core.events import Event


@dataclass(frozen=True)
class OrderPaid(Event):
    order_id: int


@dataclass(frozen=True)
class OrderRefunded(Event):
    order_id: int


@dataclass(frozen=True)
class OrderFulfilled(Event):
    """Every line of a paid order has its license (issued, renewed or upgraded)."""

    order_id: int
