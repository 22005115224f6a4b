"""Stripe: Checkout Sessions and refunds (being written)."""

from __future__ import annotations

from apps.store.gateways import ChargeResult, GatewayUnavailable
from apps.store.models import Order


class StripeGateway:
    name = "stripe"
    label = "Card (Stripe)"
    takes_card_details = False

    def charge(
        self, *, order: Order, idempotency_key: str, card: dict[str, str], return_url: str
    ) -> ChargeResult:
        raise GatewayUnavailable("Stripe is not configured.")

    def refund(self, *, order: Order, idempotency_key: str) -> str:
        raise GatewayUnavailable("Stripe is not configured.")
