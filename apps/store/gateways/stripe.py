"""Stripe: a hosted Checkout Session per order, refunds by payment intent.

Stripe's REST API is called directly (form-encoded requests, JSON answers) with the standard
library, so the store needs no SDK. `stripe_request` builds each request; `http_send` is the
only function that touches the network, and the one tests replace.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.urls import reverse

from apps.store.gateways import ChargeResult, GatewayUnavailable, PaymentDeclined
from apps.store.models import Order

logger = logging.getLogger(__name__)

# Pinned so the answers keep the shape this module reads, whatever the account's default is.
STRIPE_VERSION = "2024-06-20"
# The order row stays locked while Stripe answers (see services.order_pay): never wait long.
TIMEOUT_SECONDS = 10


def http_send(*, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """Send one HTTP request; return the status and body, raise OSError if there is no answer."""
    if not url.startswith(("https://", "http://")):
        raise ConnectionError(f"not an HTTP URL: {url!r} (check STRIPE_API_BASE)")
    request = urllib.request.Request(url, data=body or None, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), error.read()
    except http.client.HTTPException as error:
        # A truncated or garbled answer is as good as none.
        raise ConnectionError(f"bad HTTP answer: {error!r}") from error


class StripeRefused(GatewayUnavailable):
    """Stripe refused a request as invalid (4xx other than a card error); nothing moved."""

    code = "stripe_refused"


def form_pairs(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested data into Stripe's bracket notation: ``a[b][0][c]=value``."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            pairs.extend(form_pairs(value, name))
        elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
            pairs.extend(form_pairs({str(i): item for i, item in enumerate(value)}, name))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif value is not None:
            pairs.append((name, str(value)))
    return pairs


def stripe_request(
    *, method: str, path: str, data: Mapping[str, Any] | None = None, idempotency_key: str = ""
) -> dict[str, Any]:
    """Call Stripe's API and return its JSON answer; raise PaymentDeclined or GatewayUnavailable."""
    secret = settings.STRIPE_SECRET_KEY
    if not secret:
        raise GatewayUnavailable(
            "Stripe is not configured on this store (STRIPE_SECRET_KEY is empty).",
            code="gateway_not_configured",
        )
    headers = {
        "Authorization": f"Bearer {secret}",
        "Stripe-Version": STRIPE_VERSION,
        "Accept": "application/json",
        "User-Agent": "Depot",
    }
    body = b""
    if method != "GET":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(form_pairs(data or {})).encode()
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    url = f"{str(settings.STRIPE_API_BASE).rstrip('/')}{path}"
    try:
        status, raw = http_send(method=method, url=url, headers=headers, body=body)
    except OSError as error:  # includes timeouts, refused connections and TLS failures
        logger.warning("Stripe %s %s: no answer (%r)", method, path, error)
        raise GatewayUnavailable("Stripe could not be reached.") from error
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        logger.warning("Stripe %s %s: HTTP %s without a JSON object", method, path, status)
        raise GatewayUnavailable(f"Stripe answered with an error (HTTP {status}).")
    if 200 <= status < 300:
        return answer
    detail = answer.get("error")
    detail = detail if isinstance(detail, dict) else {}
    message = str(detail.get("message") or f"HTTP {status}")
    code = str(detail.get("decline_code") or detail.get("code") or "")
    logger.warning("Stripe %s %s: HTTP %s %s %s", method, path, status, code, message)
    if status == 402 or detail.get("type") == "card_error":
        raise PaymentDeclined(message, code=code or "card_declined")
    if status >= 500 or status == 429:
        raise GatewayUnavailable("Stripe is not answering properly right now.")
    raise StripeRefused(f"Stripe refused the request: {message}", code=code or "stripe_refused")


def session_line_items(order: Order) -> list[dict[str, Any]]:
    """Return the order's lines as Checkout line items, each at its discounted total."""
    items: list[dict[str, Any]] = []
    charged = 0
    for line in order.lines.select_related("product", "tier").order_by("pk"):
        if line.total == 0:
            continue  # a free line (a 100 % coupon) changes no amount
        name = f"{line.product.name} · {line.tier.name}"
        if line.kind != line.Kind.NEW:
            name = f"{name} ({line.get_kind_display().lower()})"
        items.append(
            {
                "price_data": {
                    "currency": order.currency.lower(),
                    # Quantity is folded into the amount: the total is what the line costs.
                    "unit_amount": line.total,
                    "product_data": {"name": name},
                },
                "quantity": 1,
            }
        )
        charged += line.total
    if charged != order.total:
        # Stripe must charge exactly the order's total, which the webhook checks again.
        items = [
            {
                "price_data": {
                    "currency": order.currency.lower(),
                    "unit_amount": order.total,
                    "product_data": {"name": f"Order {order.number}"},
                },
                "quantity": 1,
            }
        ]
    return items


class StripeGateway:
    name = "stripe"
    label = "Card (Stripe)"
    takes_card_details = False

    def charge(
        self, *, order: Order, idempotency_key: str, card: dict[str, str], return_url: str
    ) -> ChargeResult:
        """Open a Checkout Session for `order`; the webhook says when it is paid."""
        base = str(settings.DEPOT_STORE_BASE_URL).rstrip("/")
        session = stripe_request(
            method="POST",
            path="/v1/checkout/sessions",
            idempotency_key=idempotency_key,
            data={
                "mode": "payment",
                "line_items": session_line_items(order),
                "success_url": return_url,
                "cancel_url": f"{base}{reverse('store:checkout')}",
                "client_reference_id": order.number,
                "customer_email": order.email,
                "metadata": {"order_number": order.number},
                # Copied onto the charge, so a refund event finds the order by its number.
                "payment_intent_data": {"metadata": {"order_number": order.number}},
            },
        )
        session_id, url = session.get("id"), session.get("url")
        if not (isinstance(session_id, str) and isinstance(url, str) and session_id and url):
            raise GatewayUnavailable("Stripe did not open a payment page.")
        return ChargeResult(reference=session_id, redirect_url=url)

    def refund(self, *, order: Order, idempotency_key: str) -> str:
        """Refund the order's payment intent in full; return Stripe's refund id."""
        payment_intent = self._payment_intent(order)
        try:
            refund = stripe_request(
                method="POST",
                path="/v1/refunds",
                idempotency_key=idempotency_key,
                data={
                    "payment_intent": payment_intent,
                    "metadata": {"order_number": order.number},
                },
            )
        except StripeRefused as refused:
            # Refunded in the Dashboard before its webhook arrived: the money is back already.
            if refused.code == "charge_already_refunded":
                return payment_intent
            raise
        refund_id = refund.get("id")
        if not isinstance(refund_id, str) or not refund_id:
            raise GatewayUnavailable("Stripe did not confirm the refund.")
        return refund_id

    def _payment_intent(self, order: Order) -> str:
        reference = order.gateway_reference
        if reference.startswith("pi_"):
            return reference
        if reference.startswith("cs_"):
            # Paid by an event that named no payment intent: ask the session for it.
            session = stripe_request(
                method="GET", path=f"/v1/checkout/sessions/{quote(reference, safe='')}"
            )
            payment_intent = session.get("payment_intent")
            if isinstance(payment_intent, str) and payment_intent.startswith("pi_"):
                return payment_intent
        raise GatewayUnavailable(
            f"Order {order.number} has no Stripe payment to refund; refund it in Stripe."
        )
