"""Payment gateways behind one small interface.

A gateway either settles a payment during the checkout request (the test gateway: a card
form) or sends the customer to a hosted page and settles later through a webhook (Stripe).
`gateway_get()` returns the one named by DEPOT_PAYMENT_GATEWAY.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from apps.core.errors import DomainError
from apps.store.models import Order


class PaymentDeclined(DomainError):
    """The gateway said no; the message is for the customer (and safe to show)."""

    code = "payment_declined"
    status = 402


class GatewayUnavailable(DomainError):
    """The gateway could not be reached or answered with an error; nothing was charged."""

    code = "gateway_unavailable"
    status = 503


@dataclass(frozen=True)
class ChargeResult:
    """What a gateway did: settled now (`reference`) or wants the customer at `redirect_url`."""

    reference: str = ""
    redirect_url: str = ""

    @property
    def settled(self) -> bool:
        return not self.redirect_url


class Gateway(Protocol):
    name: str
    label: str
    # Whether the checkout form shows card fields (the test gateway) or redirects (Stripe).
    takes_card_details: bool

    def charge(
        self, *, order: Order, idempotency_key: str, card: dict[str, str], return_url: str
    ) -> ChargeResult:
        """Take `order.total` or start doing so; raise PaymentDeclined or GatewayUnavailable."""
        ...

    def refund(self, *, order: Order, idempotency_key: str) -> str:
        """Give the money of a paid order back; return the gateway's refund reference."""
        ...


def gateway_get(name: str | None = None) -> Gateway:
    """Return the gateway called `name`, by default the store's (DEPOT_PAYMENT_GATEWAY)."""
    from apps.store.gateways.stripe import StripeGateway
    from apps.store.gateways.test import TestGateway

    name = name or settings.DEPOT_PAYMENT_GATEWAY
    gateways: dict[str, Gateway] = {"test": TestGateway(), "stripe": StripeGateway()}
    if name not in gateways:
        raise LookupError(f"unknown payment gateway {name!r} (DEPOT_PAYMENT_GATEWAY)")
    return gateways[name]
