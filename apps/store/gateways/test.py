"""The test gateway: a card form where documented numbers approve or decline.

It never moves money. Numbers follow Stripe's test cards so the same numbers work in both:

    4242 4242 4242 4242   approved
    4000 0000 0000 0002   declined: "Your card was declined."
    4000 0000 0000 9995   declined: "Your card has insufficient funds."
    4000 0000 0000 0069   declined: "Your card has expired."

Any other number that passes the Luhn check is approved; one that fails it is refused as a
typo. Any future expiry date and any 3-digit CVC work.
"""

from __future__ import annotations

import hashlib

from django.utils import timezone

from apps.store.gateways import ChargeResult, PaymentDeclined
from apps.store.models import Order

DECLINES = {
    "4000000000000002": ("Your card was declined.", "card_declined"),
    "4000000000009995": ("Your card has insufficient funds.", "insufficient_funds"),
    "4000000000000069": ("Your card has expired.", "expired_card"),
}


def luhn_valid(number: str) -> bool:
    """Whether `number` (digits only) passes the Luhn checksum card numbers carry."""
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char)
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_number_clean(raw: str) -> str:
    return "".join(char for char in raw if char not in " -")


class TestGateway:
    name = "test"
    label = "Test card (no money moves)"
    takes_card_details = True

    def charge(
        self, *, order: Order, idempotency_key: str, card: dict[str, str], return_url: str
    ) -> ChargeResult:
        number = card_number_clean(card.get("number", ""))
        if not (number.isascii() and number.isdigit() and 12 <= len(number) <= 19):
            raise PaymentDeclined("Enter the card number as 12 to 19 digits.", code="card_invalid")
        if not luhn_valid(number):
            raise PaymentDeclined(
                "This card number is not valid; check it for typos.", code="card_invalid"
            )
        if number in DECLINES:
            message, code = DECLINES[number]
            raise PaymentDeclined(message, code=code)
        # The same idempotency key gives the same reference, as a real gateway would.
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
        return ChargeResult(reference=f"test_ch_{digest}")

    def refund(self, *, order: Order, idempotency_key: str) -> str:
        stamp = timezone.now().strftime("%Y%m%d%H%M%S")
        return f"test_re_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:12]}_{stamp}"
