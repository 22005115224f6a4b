"""Stripe: Checkout Sessions opened at checkout, signed webhooks applied once, refunds.

Stripe's servers are the one thing not reachable from here, so only the socket-level call
(`apps.store.gateways.stripe.http_send`) is replaced, by a fake that answers as Stripe does:
the form encoding, headers and error handling under test are the real ones. Webhook payloads
are signed here exactly as Stripe signs them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.licenses.models import License
from apps.store import services
from apps.store.gateways import stripe as stripe_gateway
from apps.store.models import Coupon, Order, Payment, PriceTier, StripeEvent
from apps.store.services import tier_upsert
from tests.builders import cart_fill, product_make

pytestmark = pytest.mark.django_db

WEBHOOK_URL = "/store/webhooks/stripe/"
WEBHOOK_SECRET = "whsec_test_depot_0123456789"
SECRET_KEY = "sk_test_depot_0123456789"
TOKEN = "checkout-token-0123456789abcdef"


@dataclass
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True, strict_parsing=True))


@dataclass
class FakeStripe:
    """Stripe's API as far as Depot uses it: one session per idempotency key, refunds."""

    sent: list[Sent] = field(default_factory=list)
    # When set, every request gets this answer (status, JSON) or raises this exception.
    failure: tuple[int, dict[str, Any]] | Exception | None = None

    def __call__(
        self, *, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        self.sent.append(Sent(method, url, headers, body))
        if isinstance(self.failure, Exception):
            raise self.failure
        if self.failure is not None:
            status, answer = self.failure
            return status, json.dumps(answer).encode()
        key = hashlib.sha256(headers.get("Idempotency-Key", "").encode()).hexdigest()[:24]
        path = urlsplit(url).path
        if method == "POST" and path == "/v1/checkout/sessions":
            return 200, json.dumps(
                {
                    "id": f"cs_test_{key}",
                    "object": "checkout.session",
                    "url": f"https://checkout.stripe.com/c/pay/cs_test_{key}",
                    "payment_intent": None,
                    "payment_status": "unpaid",
                }
            ).encode()
        if method == "GET" and path.startswith("/v1/checkout/sessions/cs_test_"):
            session_id = path.rsplit("/", 1)[1]
            return 200, json.dumps({"id": session_id, "payment_intent": "pi_from_session"}).encode()
        if method == "POST" and path == "/v1/refunds":
            return 200, json.dumps({"id": f"re_{key}", "status": "succeeded"}).encode()
        return 404, json.dumps({"error": {"type": "invalid_request_error"}}).encode()

    def posted(self, path: str) -> list[Sent]:
        return [sent for sent in self.sent if urlsplit(sent.url).path == path]


@pytest.fixture
def stripe_api(settings, monkeypatch) -> FakeStripe:
    settings.DEPOT_PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = "https://api.stripe.com"
    settings.STRIPE_WEBHOOK_TOLERANCE = 300
    settings.DEPOT_STORE_BASE_URL = "https://shop.example.com"
    settings.DEPOT_CURRENCY = "USD"
    fake = FakeStripe()
    monkeypatch.setattr(stripe_gateway, "http_send", fake)
    return fake


@pytest.fixture
def tiers(db: None) -> dict[str, PriceTier]:
    formwell = product_make()
    searchlight = product_make("searchlight-seo", "Searchlight SEO")
    return {
        "formwell": tier_upsert(
            product=formwell, name="Personal", sites_allowed=1, term="year", amount=4900
        ),
        "searchlight": tier_upsert(
            product=searchlight, name="Business", sites_allowed=5, term="lifetime", amount=9800
        ),
    }


def _checkout(client, *tiers: PriceTier, token: str = TOKEN, coupon: str = ""):
    """Check out with Stripe's form: no card fields (Stripe's page takes the card), our token."""
    cart_fill(client, *tiers, coupon=coupon)
    return client.post(
        "/checkout/",
        {"checkout_token": token, "email": "ada@example.com", "name": "Ada Buyer", "country": "GB"},
    )


@pytest.fixture
def pending_order(client, stripe_api: FakeStripe, tiers: dict[str, PriceTier]) -> Order:
    """An order sent to Stripe's Checkout page, waiting for Stripe's webhook."""
    response = _checkout(client, tiers["formwell"], tiers["searchlight"])
    assert response.status_code == 303
    return Order.objects.get(checkout_token=TOKEN)


def _signature(body: bytes, *, timestamp: int, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _deliver(client, event: dict[str, Any] | bytes, *, timestamp: int | None = None, **kwargs):
    """POST `event` to the webhook, signed the way Stripe signs it unless told otherwise."""
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    header = kwargs.get("header", f"t={timestamp},v1={_signature(body, timestamp=timestamp)}")
    headers = {"Stripe-Signature": header} if header is not None else {}
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", headers=headers)


def _event(event_type: str, obj: dict[str, Any], *, event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": stripe_gateway.STRIPE_VERSION,
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }


def session_completed(
    order: Order,
    *,
    event_id: str = "evt_session_completed",
    payment_intent: str = "pi_test_123",
    payment_status: str = "paid",
    event_type: str = "checkout.session.completed",
    amount_total: int | None = None,
) -> dict[str, Any]:
    return _event(
        event_type,
        {
            "id": order.gateway_reference,
            "object": "checkout.session",
            "mode": "payment",
            "status": "complete",
            "client_reference_id": order.number,
            "metadata": {"order_number": order.number},
            "payment_intent": payment_intent,
            "payment_status": payment_status,
            "amount_total": order.total if amount_total is None else amount_total,
            "currency": order.currency.lower(),
        },
        event_id=event_id,
    )


def charge_refunded(
    order: Order,
    *,
    event_id: str = "evt_charge_refunded",
    payment_intent: str = "pi_test_123",
    amount_refunded: int | None = None,
    metadata: bool = True,
) -> dict[str, Any]:
    refunded = order.total if amount_refunded is None else amount_refunded
    return _event(
        "charge.refunded",
        {
            "id": "ch_test_123",
            "object": "charge",
            "payment_intent": payment_intent,
            "amount": order.total,
            "amount_refunded": refunded,
            "refunded": refunded == order.total,
            "currency": order.currency.lower(),
            "metadata": {"order_number": order.number} if metadata else {},
        },
        event_id=event_id,
    )


def _outbox(name: str, order: Order) -> int:
    return sum(
        1
        for row in OutboxEvent.objects.filter(name=name)
        if row.payload.get("order_id") == order.pk
    )


def _licenses(order: Order) -> list[License]:
    return list(License.objects.filter(order_line_id__in=order.lines.values("pk")).order_by("pk"))


@pytest.fixture
def nothing_written() -> Iterator[Callable[[Order], None]]:
    """Assert that a refused delivery left no event, no outbox row and the order as it was."""
    outbox_before = OutboxEvent.objects.count()

    def check(order: Order) -> None:
        assert StripeEvent.objects.count() == 0
        assert OutboxEvent.objects.count() == outbox_before
        refreshed = Order.objects.get(pk=order.pk)
        assert (refreshed.status, refreshed.paid_at) == (Order.Status.PENDING, None)

    yield check


# --- Outbound: the Checkout Session ------------------------------------------------------


def test_checkout_opens_a_stripe_session_for_the_discounted_lines_and_redirects_to_it(
    client, stripe_api, tiers
):
    # Given
    Coupon.objects.create(code="TEN", kind=Coupon.Kind.PERCENT, value=10)

    # When
    response = _checkout(client, tiers["formwell"], tiers["searchlight"], coupon="TEN")

    # Then
    order = Order.objects.get(checkout_token=TOKEN)
    [sent] = stripe_api.sent
    assert (sent.method, sent.url) == ("POST", "https://api.stripe.com/v1/checkout/sessions")
    assert sent.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert sent.headers["Idempotency-Key"] == f"checkout-{order.number}"
    assert sent.headers["Stripe-Version"] == stripe_gateway.STRIPE_VERSION
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.form == {
        "mode": "payment",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "4410",
        "line_items[0][price_data][product_data][name]": "Formwell · Personal",
        "line_items[0][quantity]": "1",
        "line_items[1][price_data][currency]": "usd",
        "line_items[1][price_data][unit_amount]": "8820",
        "line_items[1][price_data][product_data][name]": "Searchlight SEO · Business",
        "line_items[1][quantity]": "1",
        "success_url": f"http://testserver/orders/{order.number}/?key={order.access_key}",
        "cancel_url": "https://shop.example.com/checkout/",
        "client_reference_id": order.number,
        "customer_email": "ada@example.com",
        "metadata[order_number]": order.number,
        "payment_intent_data[metadata][order_number]": order.number,
    }
    assert order.total == 4410 + 8820
    session_id = f"cs_test_{hashlib.sha256(f'checkout-{order.number}'.encode()).hexdigest()[:24]}"
    assert response.status_code == 303
    assert response["Location"] == f"https://checkout.stripe.com/c/pay/{session_id}"
    assert (order.status, order.gateway, order.gateway_reference) == (
        Order.Status.PENDING,
        "stripe",
        session_id,
    )
    [payment] = order.payments.all()
    assert (payment.status, payment.amount, payment.reference) == (
        Payment.Status.PENDING,
        order.total,
        session_id,
    )


def test_a_second_submission_of_the_form_asks_stripe_with_the_same_idempotency_key(
    client, stripe_api, tiers
):
    # Given
    first = _checkout(client, tiers["formwell"])

    # When
    second = client.post(
        "/checkout/",
        {"checkout_token": TOKEN, "email": "ada@example.com", "name": "Ada Buyer", "country": "GB"},
    )

    # Then
    order = Order.objects.get()
    assert len(stripe_api.sent) == 2
    assert {sent.headers["Idempotency-Key"] for sent in stripe_api.sent} == {
        f"checkout-{order.number}"
    }
    assert stripe_api.sent[0].body == stripe_api.sent[1].body
    assert second.status_code == first.status_code == 303
    assert second["Location"] == first["Location"]


def test_a_resubmitted_checkout_paid_once_records_one_payment(client, stripe_api, tiers):
    # Given
    _checkout(client, tiers["formwell"])
    client.post(
        "/checkout/",
        {"checkout_token": TOKEN, "email": "ada@example.com", "name": "Ada Buyer", "country": "GB"},
    )
    order = Order.objects.get()

    # When
    _deliver(client, session_completed(order))

    # Then
    assert list(order.payments.values_list("status", "amount")) == [
        (Payment.Status.SUCCEEDED, order.total)
    ]


@pytest.mark.parametrize(
    "failure",
    [
        (500, {"error": {"type": "api_error", "message": "An unknown error occurred"}}),
        (503, {"error": {"type": "api_error", "message": "Service unavailable"}}),
        TimeoutError("timed out"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
    ids=["500", "503", "timeout", "refused"],
)
def test_when_stripe_fails_the_form_says_nothing_was_charged_and_no_payment_is_pending(
    client, stripe_api, tiers, failure
):
    # Given
    stripe_api.failure = failure

    # When
    response = _checkout(client, tiers["formwell"])

    # Then
    assert response.status_code == 503
    assert "Nothing was charged" in response.content.decode()
    assert Payment.objects.count() == 0
    order = Order.objects.get()
    assert (order.status, order.gateway_reference) == (Order.Status.PENDING, "")
    assert OutboxEvent.objects.count() == 0


def test_a_card_error_from_stripe_is_shown_as_a_decline(client, stripe_api, tiers):
    # Given
    stripe_api.failure = (
        402,
        {"error": {"type": "card_error", "code": "card_declined", "message": "Card declined."}},
    )

    # When
    response = _checkout(client, tiers["formwell"])

    # Then
    assert response.status_code == 402
    assert "Card declined." in response.content.decode()
    [payment] = Payment.objects.all()
    assert (payment.status, payment.error) == (Payment.Status.DECLINED, "Card declined.")
    assert Order.objects.get().status == Order.Status.FAILED


def test_without_a_secret_key_checkout_says_stripe_is_not_configured_and_sends_nothing(
    client, settings, stripe_api, tiers
):
    # Given
    settings.STRIPE_SECRET_KEY = ""

    # When
    response = _checkout(client, tiers["formwell"])

    # Then
    assert response.status_code == 503
    assert "Stripe is not configured" in response.content.decode()
    assert stripe_api.sent == []
    assert Payment.objects.count() == 0


# --- The webhook: signatures -------------------------------------------------------------


def test_a_paid_session_pays_the_order_and_a_refund_in_stripe_revokes_its_licenses(
    client, pending_order, django_capture_on_commit_callbacks
):
    # When Stripe reports the session paid (the fulfilment pipeline runs after commit)
    with django_capture_on_commit_callbacks(execute=True):
        paid = _deliver(client, session_completed(pending_order))

    # Then the order is paid with the payment intent as its reference, and fulfilled
    assert paid.status_code == 200
    assert paid.json() == {"received": True, "outcome": "paid"}
    order = Order.objects.get(pk=pending_order.pk)
    assert (order.status, order.gateway, order.gateway_reference) == (
        Order.Status.PAID,
        "stripe",
        "pi_test_123",
    )
    assert order.fulfilled_at is not None
    assert [payment.status for payment in order.payments.all()] == [Payment.Status.SUCCEEDED]
    licenses = _licenses(order)
    assert [license.status for license in licenses] == [License.Status.ACTIVE] * 2

    # When the charge is refunded in Stripe's Dashboard
    refunded = _deliver(client, charge_refunded(order))

    # Then the order is refunded and the licenses it paid for are revoked
    assert refunded.status_code == 200
    assert refunded.json() == {"received": True, "outcome": "refunded"}
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert [
        license.status for license in License.objects.filter(pk__in=[x.pk for x in licenses])
    ] == [License.Status.REVOKED] * 2
    assert _outbox("store.OrderRefunded", order) == 1
    events = dict(StripeEvent.objects.values_list("event_id", "outcome"))
    assert events == {"evt_session_completed": "paid", "evt_charge_refunded": "refunded"}
    assert set(StripeEvent.objects.values_list("order_id", flat=True)) == {order.pk}


def test_a_bad_signature_is_refused_and_nothing_is_written(client, pending_order, nothing_written):
    # Given
    body = json.dumps(session_completed(pending_order)).encode()
    now = int(time.time())
    forged = _signature(body, timestamp=now, secret="whsec_someone_else")

    # When
    response = _deliver(client, body, header=f"t={now},v1={forged}")

    # Then
    assert response.status_code == 400
    assert response.json()["code"] == "signature_invalid"
    nothing_written(pending_order)


def test_a_body_changed_after_signing_is_refused(client, pending_order, nothing_written):
    # Given
    signed = json.dumps(session_completed(pending_order)).encode()
    now = int(time.time())
    header = f"t={now},v1={_signature(signed, timestamp=now)}"
    changed = signed.replace(b'"pi_test_123"', b'"pi_attacker"')

    # When
    response = _deliver(client, changed, header=header)

    # Then
    assert response.status_code == 400
    assert response.json()["code"] == "signature_invalid"
    nothing_written(pending_order)


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "v1=abc", "t=1700000000", "t=soon,v1=abc", "t=,v1="],
    ids=["missing", "empty", "garbage", "no-timestamp", "no-v1", "bad-timestamp", "blank"],
)
def test_a_missing_or_malformed_signature_header_is_refused(
    client, pending_order, nothing_written, header
):
    # When
    response = _deliver(client, session_completed(pending_order), header=header)

    # Then
    assert response.status_code == 400
    assert response.json()["code"] == "signature_invalid"
    assert response.json()["message"]
    nothing_written(pending_order)


@pytest.mark.parametrize("offset", [-301, 301], ids=["stale", "future"])
def test_a_signature_outside_the_tolerance_is_refused_as_a_replay(
    client, pending_order, nothing_written, offset
):
    # When
    response = _deliver(
        client, session_completed(pending_order), timestamp=int(time.time()) + offset
    )

    # Then
    assert response.status_code == 400
    assert response.json()["code"] == "timestamp_out_of_tolerance"
    nothing_written(pending_order)


def test_while_the_secret_is_rolled_any_v1_signature_may_match(client, pending_order):
    # Given
    body = json.dumps(session_completed(pending_order)).encode()
    now = int(time.time())
    old = _signature(body, timestamp=now, secret="whsec_old_secret")
    header = f"t={now},v1={old},v1={_signature(body, timestamp=now)},v0=ignored"

    # When
    response = _deliver(client, body, header=header)

    # Then
    assert response.status_code == 200
    assert Order.objects.get(pk=pending_order.pk).status == Order.Status.PAID


def test_without_a_signing_secret_the_webhook_answers_503_and_writes_nothing(
    client, settings, pending_order, nothing_written
):
    # Given
    settings.STRIPE_WEBHOOK_SECRET = ""

    # When
    response = _deliver(client, session_completed(pending_order))

    # Then
    assert response.status_code == 503
    assert response.json()["code"] == "not_configured"
    nothing_written(pending_order)


def test_the_webhook_takes_only_post(client, stripe_api):
    # When
    response = client.get(WEBHOOK_URL)

    # Then
    assert response.status_code == 405


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'{"id": NaN}', b"\xff\xfe", b"", b'{"id": "evt_1"}'],
    ids=["broken", "array", "nan", "not-utf8", "empty", "no-type"],
)
def test_a_signed_body_that_is_not_a_stripe_event_is_refused(
    client, pending_order, nothing_written, body
):
    # When
    response = _deliver(client, body)

    # Then
    assert response.status_code == 400
    assert response.json()["code"] == "event_invalid"
    nothing_written(pending_order)


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"client_reference_id": 7, "metadata": "x", "payment_intent": ["pi"]},
        {"client_reference_id": None, "metadata": {"order_number": {"$ne": ""}}},
        {"client_reference_id": "D-" + "X" * 500, "amount_total": "4900"},
        {"payment_intent": {"id": 5}, "payment_status": "paid", "amount_total": True},
    ],
    ids=["empty", "wrong-types", "nested", "long", "odd-values"],
)
@pytest.mark.parametrize(
    "event_type",
    ["checkout.session.completed", "checkout.session.async_payment_succeeded", "charge.refunded"],
)
def test_odd_signed_events_are_recorded_never_a_server_error(
    client, pending_order, obj, event_type
):
    # When
    response = _deliver(client, _event(event_type, obj, event_id="evt_odd"))

    # Then
    assert response.status_code == 200
    assert StripeEvent.objects.get().event_id == "evt_odd"
    assert Order.objects.get(pk=pending_order.pk).status == Order.Status.PENDING


# --- The webhook: once, in any order -----------------------------------------------------


def test_a_redelivered_event_changes_nothing_the_second_time(
    client, pending_order, django_capture_on_commit_callbacks
):
    # Given
    event = session_completed(pending_order)
    with django_capture_on_commit_callbacks(execute=True):
        first = _deliver(client, event)
    paid_at = Order.objects.get(pk=pending_order.pk).paid_at

    # When
    with django_capture_on_commit_callbacks(execute=True):
        second = _deliver(client, event)

    # Then
    assert first.status_code == second.status_code == 200
    assert second.json() == {"received": True, "duplicate": True}
    assert StripeEvent.objects.count() == 1
    order = Order.objects.get(pk=pending_order.pk)
    assert (order.status, order.paid_at) == (Order.Status.PAID, paid_at)
    assert _outbox("store.OrderPaid", order) == 1
    assert len(_licenses(order)) == 2


def test_a_second_event_for_a_paid_order_is_recorded_as_already_paid(client, pending_order):
    # Given
    _deliver(client, session_completed(pending_order))

    # When
    response = _deliver(
        client,
        session_completed(
            pending_order,
            event_id="evt_async",
            event_type="checkout.session.async_payment_succeeded",
        ),
    )

    # Then
    assert response.json() == {"received": True, "outcome": "already_paid"}
    assert _outbox("store.OrderPaid", pending_order) == 1


def test_a_refund_that_arrives_before_the_payment_leaves_the_order_refunded(
    client, pending_order, django_capture_on_commit_callbacks
):
    # When the refund is delivered first
    refunded = _deliver(client, charge_refunded(pending_order))

    # Then the pending order is refunded
    assert refunded.status_code == 200
    assert refunded.json() == {"received": True, "outcome": "refunded"}
    assert Order.objects.get(pk=pending_order.pk).status == Order.Status.REFUNDED

    # When the payment is delivered afterwards
    with django_capture_on_commit_callbacks(execute=True):
        paid = _deliver(client, session_completed(pending_order))

    # Then it stays refunded: not paid, no licenses, no OrderPaid
    assert paid.status_code == 200
    assert paid.json()["outcome"] == "not_paid: the order is refunded"
    order = Order.objects.get(pk=pending_order.pk)
    assert (order.status, order.paid_at) == (Order.Status.REFUNDED, None)
    assert _licenses(order) == []
    assert _outbox("store.OrderPaid", order) == 0
    assert _outbox("store.OrderRefunded", order) == 1


def test_a_delayed_payment_method_pays_the_order_when_it_succeeds(client, pending_order):
    # When the session completes before the bank debit clears
    waiting = _deliver(client, session_completed(pending_order, payment_status="unpaid"))

    # Then the order keeps waiting
    assert waiting.json() == {"received": True, "outcome": "awaiting_payment"}
    assert Order.objects.get(pk=pending_order.pk).status == Order.Status.PENDING

    # When the payment succeeds
    paid = _deliver(
        client,
        session_completed(
            pending_order,
            event_id="evt_async_succeeded",
            event_type="checkout.session.async_payment_succeeded",
        ),
    )

    # Then the order is paid
    assert paid.json() == {"received": True, "outcome": "paid"}
    assert Order.objects.get(pk=pending_order.pk).status == Order.Status.PAID


def test_a_session_paid_for_another_amount_does_not_pay_the_order(client, pending_order):
    # When
    response = _deliver(client, session_completed(pending_order, amount_total=100))

    # Then
    assert response.status_code == 200
    assert response.json()["outcome"].startswith("amount_mismatch")
    assert Order.objects.get(pk=pending_order.pk).status == Order.Status.PENDING
    assert _outbox("store.OrderPaid", pending_order) == 0


def test_an_event_for_an_unknown_order_is_recorded_and_answered_200(client, pending_order):
    # Given
    event = session_completed(pending_order)
    event["data"]["object"].update(
        {"id": "cs_test_other", "client_reference_id": "D-NOSUCH00", "metadata": {}}
    )

    # When
    response = _deliver(client, event)

    # Then
    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "order_unknown"}
    row = StripeEvent.objects.get()
    assert (row.outcome, row.order_id, row.type) == (
        "order_unknown",
        None,
        "checkout.session.completed",
    )
    assert Order.objects.get(pk=pending_order.pk).status == Order.Status.PENDING


def test_other_event_types_are_recorded_as_ignored(client, pending_order):
    # When
    response = _deliver(client, _event("customer.created", {"id": "cus_1"}, event_id="evt_cus"))

    # Then
    assert response.json() == {"received": True, "outcome": "ignored"}
    assert StripeEvent.objects.get().outcome == "ignored"


def test_a_partial_refund_leaves_the_order_paid_and_its_licenses_active(
    client, pending_order, django_capture_on_commit_callbacks
):
    # Given
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(client, session_completed(pending_order))

    # When
    response = _deliver(client, charge_refunded(pending_order, amount_refunded=1000))

    # Then
    assert response.json()["outcome"].startswith("partial_refund")
    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.PAID
    assert {license.status for license in _licenses(order)} == {License.Status.ACTIVE}
    assert _outbox("store.OrderRefunded", order) == 0


def test_a_refund_without_metadata_finds_the_order_by_its_payment_intent(client, pending_order):
    # Given
    _deliver(client, session_completed(pending_order, payment_intent="pi_by_reference"))

    # When
    response = _deliver(
        client, charge_refunded(pending_order, payment_intent="pi_by_reference", metadata=False)
    )

    # Then
    assert response.json() == {"received": True, "outcome": "refunded"}
    assert Order.objects.get(pk=pending_order.pk).status == Order.Status.REFUNDED


def test_a_refund_of_a_cancelled_order_is_recorded_as_refused_not_retried(client, pending_order):
    # Given the checkout was abandoned and expired
    Order.objects.filter(pk=pending_order.pk).update(
        created_at=pending_order.created_at - timedelta(days=3)
    )
    assert services.pending_orders_expire() == 1

    # When
    response = _deliver(client, charge_refunded(pending_order))

    # Then
    assert response.status_code == 200
    assert response.json()["outcome"].startswith("refund_refused")
    assert Order.objects.get(pk=pending_order.pk).status == Order.Status.CANCELLED
    assert _outbox("store.OrderRefunded", pending_order) == 0


# --- Refunds from the admin --------------------------------------------------------------


def _admin_refund(client, order: Order):
    admin = User.objects.create_superuser("admin", "admin@example.com", "x")
    client.force_login(admin)
    return client.post(
        "/admin/store/order/",
        {"action": "refund_orders", "_selected_action": [order.pk], "index": 0},
        follow=True,
    )


def test_an_admin_refund_of_a_stripe_order_refunds_its_payment_intent(
    client, stripe_api, pending_order, django_capture_on_commit_callbacks
):
    # Given
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(client, session_completed(pending_order, payment_intent="pi_paid_1"))

    # When
    response = _admin_refund(client, pending_order)

    # Then
    [sent] = stripe_api.posted("/v1/refunds")
    assert (sent.method, sent.url) == ("POST", "https://api.stripe.com/v1/refunds")
    assert sent.headers["Idempotency-Key"] == f"refund-{pending_order.number}"
    assert sent.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert sent.form == {
        "payment_intent": "pi_paid_1",
        "metadata[order_number]": pending_order.number,
    }
    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.REFUNDED
    refund = order.payments.get(status=Payment.Status.REFUNDED)
    assert refund.reference.startswith("re_")
    assert {license.status for license in _licenses(order)} == {License.Status.REVOKED}
    assert f"Order {order.number} refunded" in response.content.decode()

    # When Stripe then reports the refund it made
    echoed = _deliver(client, charge_refunded(order, payment_intent="pi_paid_1"))

    # Then nothing more happens
    assert echoed.json() == {"received": True, "outcome": "already_refunded"}
    assert _outbox("store.OrderRefunded", order) == 1


def test_an_admin_refund_that_stripe_cannot_take_leaves_the_order_paid(
    client, stripe_api, pending_order
):
    # Given
    _deliver(client, session_completed(pending_order, payment_intent="pi_paid_2"))
    stripe_api.failure = (500, {"error": {"type": "api_error", "message": "Try again"}})

    # When
    response = _admin_refund(client, pending_order)

    # Then
    page = response.content.decode()
    assert f"Order {pending_order.number} was not refunded" in page
    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.PAID
    assert not order.payments.filter(status=Payment.Status.REFUNDED).exists()
    assert _outbox("store.OrderRefunded", order) == 0


def test_an_order_paid_without_a_payment_intent_is_refunded_through_its_session(
    client, stripe_api, pending_order
):
    # Given the paying event named no payment intent, so the order keeps the session id
    _deliver(client, session_completed(pending_order, payment_intent=""))
    session_id = Order.objects.get(pk=pending_order.pk).gateway_reference
    assert session_id.startswith("cs_test_")

    # When
    _admin_refund(client, pending_order)

    # Then
    [asked] = [sent for sent in stripe_api.sent if sent.method == "GET"]
    assert asked.url == f"https://api.stripe.com/v1/checkout/sessions/{session_id}"
    [refund] = stripe_api.posted("/v1/refunds")
    assert refund.form["payment_intent"] == "pi_from_session"
    assert Order.objects.get(pk=pending_order.pk).status == Order.Status.REFUNDED


def test_an_admin_refund_of_a_charge_already_refunded_in_stripe_completes(
    client, stripe_api, pending_order
):
    # Given the charge was refunded in the Dashboard and its webhook has not arrived yet
    _deliver(client, session_completed(pending_order, payment_intent="pi_paid_3"))
    stripe_api.failure = (
        400,
        {
            "error": {
                "type": "invalid_request_error",
                "code": "charge_already_refunded",
                "message": "Charge ch_test_123 has already been refunded.",
            }
        },
    )

    # When
    response = _admin_refund(client, pending_order)

    # Then
    assert f"Order {pending_order.number} refunded" in response.content.decode()
    order = Order.objects.get(pk=pending_order.pk)
    assert order.status == Order.Status.REFUNDED
    assert order.payments.get(status=Payment.Status.REFUNDED).reference == "pi_paid_3"


def test_a_checkout_left_at_stripe_is_cancelled_after_two_days_and_gives_its_coupon_back(
    client, stripe_api, tiers
):
    # Given: a buyer sent to Stripe's page with the last use of a coupon, who never pays
    from apps.store.tasks import pending_orders_expire_task

    Coupon.objects.create(code="ONCE", kind="percent", value=50, usage_limit=1, all_products=True)
    assert _checkout(client, tiers["formwell"], coupon="ONCE").status_code == 303
    order = Order.objects.get()
    assert (order.status, Coupon.objects.get().times_used) == (Order.Status.PENDING, 1)
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(hours=49))

    # When
    assert pending_orders_expire_task.delay().get() == 1

    # Then
    assert Order.objects.get().status == Order.Status.CANCELLED
    assert Coupon.objects.get().times_used == 0
