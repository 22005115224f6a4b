"""Stripe's webhook: verify the signature, then apply the event once (services.stripe_events)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.errors import DomainError, json_error
from apps.store.services import stripe_events

logger = logging.getLogger(__name__)


class SignatureInvalid(DomainError):
    code = "signature_invalid"


class TimestampOutOfTolerance(DomainError):
    code = "timestamp_out_of_tolerance"


def stripe_signature_verify(
    *, payload: bytes, header: str, secret: str, tolerance: int, now: float
) -> None:
    """Check a `Stripe-Signature` header the way Stripe's libraries do; raise if it fails.

    The header is ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``; several v1 entries
    appear while a signing secret is being rolled, and any one of them may match.
    """
    timestamp = ""
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12) or not signatures:
        raise SignatureInvalid("The Stripe-Signature header is missing or malformed.")
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256
    ).hexdigest()
    # Every candidate is compared, so the time taken says nothing about which one was close.
    matches = [hmac.compare_digest(expected.encode(), sig.encode()) for sig in signatures]
    if not any(matches):
        raise SignatureInvalid("No signature in the Stripe-Signature header matches the payload.")
    if abs(now - int(timestamp)) > tolerance:
        raise TimestampOutOfTolerance(
            "The signature's timestamp is too far from now; a replayed event is refused."
        )


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Receive a Stripe event: verify it, store it once, and pay or refund its order."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        # 503, not 200: once a secret is set, Stripe's retries deliver what arrived meanwhile.
        return json_error(
            "not_configured",
            "Stripe webhooks are not set up here (STRIPE_WEBHOOK_SECRET is empty).",
            503,
        )
    payload = request.body
    try:
        stripe_signature_verify(
            payload=payload,
            header=request.headers.get("Stripe-Signature", ""),
            secret=secret,
            tolerance=int(settings.STRIPE_WEBHOOK_TOLERANCE),
            now=time.time(),
        )
    except DomainError as refused:
        logger.warning("Stripe webhook refused: %s", refused.message)
        return json_error(refused.code, refused.message, 400)
    try:
        decoded = json.loads(payload, parse_constant=_no_constants)
        event = stripe_events.stripe_event_parse(payload=decoded)
    except DomainError as invalid:
        return json_error(invalid.code, invalid.message, 400)
    except (ValueError, RecursionError):
        return json_error(
            stripe_events.StripeEventInvalid.code, "The payload is not valid JSON.", 400
        )
    applied = stripe_events.stripe_event_record(event=event)
    if applied.duplicate:
        return JsonResponse({"received": True, "duplicate": True})
    return JsonResponse({"received": True, "outcome": applied.outcome})


def _no_constants(name: str) -> float:
    # NaN and Infinity are not JSON, and a JSON column would refuse them.
    raise ValueError(f"{name} is not JSON")
