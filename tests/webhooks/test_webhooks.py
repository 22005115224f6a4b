"""Outgoing webhooks: signed deliveries after a purchase, retries, the address guard, replay.

A receiver on 127.0.0.1 (a thread of this process) answers as each test scripts it; the
signature is checked with the snippets of docs/webhooks.md, extracted from the page itself.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client, override_settings

from apps.store.models import Order
from apps.webhooks.models import Delivery, DeliveryAttempt, Endpoint, WebhookEvent
from apps.webhooks.services import endpoint_create, webhook_event_record
from apps.webhooks.transport import signature_header
from tests.builders import Shop, buy, shop_create
from tests.conftest import Workers
from tests.helpers import wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that answers the scripted statuses in turn, then 200."""

    server: ThreadingHTTPServer
    statuses: list[int]
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/depot?source=test"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                me = state["receiver"]
                me.received.append(Received(headers=dict(self.headers.items()), body=body))
                status = me.statuses.pop(0) if me.statuses else 200
            answer = b'{"ok": false}' if status >= 300 else b"thanks"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(server=server, statuses=[])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def shop(transactional_db: None) -> Shop:
    return shop_create()


def _doc_block(language: str) -> str:
    """Return the first ``` block of `language` in docs/webhooks.md."""
    match = re.search(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/webhooks.md has no {language} block"
    return match.group(1)


def _python_verifier() -> Any:
    namespace: dict[str, Any] = {}
    exec(_doc_block("python"), namespace)  # noqa: S102 - the documented snippet, tested as is
    return namespace["depot_signature_valid"]


def _event(request: Received) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(request.body)
    return document


@override_settings(DEPOT_WEBHOOKS_ALLOW_PRIVATE=True)
def test_a_purchase_sends_a_signed_order_paid_that_the_documented_python_snippet_verifies(
    shop: Shop, receiver: Receiver
) -> None:
    # Given an endpoint for order.paid (and one event it does not want: nothing else arrives)
    endpoint, secret = endpoint_create(url=receiver.url, events=["order.paid"])

    # When a customer buys
    response = buy(Client(), shop.business)

    # Then one signed request arrived with the order in it
    assert response.status_code == 303
    order = Order.objects.get()
    (request,) = receiver.received
    event = _event(request)
    assert set(event) == {"id", "type", "created", "data"}
    assert event["type"] == "order.paid"
    assert re.fullmatch(r"evt_[0-9a-f]{32}", event["id"])
    assert event["data"]["object"] == "order"
    assert (event["data"]["number"], event["data"]["total"]) == (order.number, 9900)
    assert event["data"]["lines"][0]["tier"] == "Business"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Depot-Event-Id"] == event["id"]
    assert request.headers["Depot-Event-Type"] == "order.paid"
    header = request.headers["Depot-Signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    # …which the documented snippet accepts, and refuses for another body or secret
    verify = _python_verifier()
    assert verify(secret, request.body, header) is True
    assert verify(secret, request.body.replace(b"9900", b"9901"), header) is False
    assert verify(secret + "x", request.body, header) is False
    # And the delivery and its one try are recorded
    delivery = Delivery.objects.get()
    assert (delivery.endpoint_id, delivery.status, delivery.attempts) == (
        endpoint.pk,
        "succeeded",
        1,
    )
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.succeeded, attempt.response_code, attempt.response_body) == (
        True,
        200,
        "thanks",
    )
    # The secret is kept encrypted, not as it was shown
    assert secret not in Endpoint.objects.get().secret_encrypted


@pytest.mark.parametrize("language", ["php", "js"])
def test_the_php_and_node_snippets_accept_what_depot_signs(language: str) -> None:
    secret, body = "whsec_test", b'{"id":"evt_1","type":"order.paid"}'
    header = signature_header(secret=secret, body=body, timestamp=int(time.time()))
    snippet = _doc_block(language)
    args = [secret, body.decode(), header]
    if language == "php":
        function = snippet.split("// In WordPress")[0]
        program = function + "exit(depot_signature_valid($argv[1], $argv[2], $argv[3]) ? 0 : 1);\n"
        command = ["php", "-r", program.removeprefix("<?php\n"), "--", *args]
        tampered = [
            "php",
            "-r",
            program.removeprefix("<?php\n"),
            "--",
            args[0],
            args[1] + " ",
            args[2],
        ]
    else:
        program = snippet + (
            "\nprocess.exit(depotSignatureValid(process.argv[1], process.argv[2], "
            "process.argv[3]) ? 0 : 1);\n"
        )
        command = ["node", "-e", program, *args]
        tampered = ["node", "-e", program, args[0], args[1] + " ", args[2]]
    assert subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    assert subprocess.run(tampered, capture_output=True, timeout=30).returncode == 1


def test_a_receiver_failing_three_times_gets_the_event_exactly_once_more_after_the_retries(
    shop: Shop, receiver: Receiver, celery_workers: Workers
) -> None:
    # Given a receiver that answers 500 three times, then 200, and a worker with tiny backoff
    receiver.statuses[:] = [500, 500, 500]
    endpoint_create(url=receiver.url, events=["order.paid"])
    celery_workers.start(
        DEPOT_WEBHOOKS_ALLOW_PRIVATE="true",
        DEPOT_WEBHOOKS_RETRY_BASE_SECONDS="0.2",
        DEPOT_WEBHOOKS_RETRY_MAX_SECONDS="1",
    )

    # When a customer buys
    buy(Client(), shop.personal)

    # Then after three failures the fourth try succeeds, with the same event each time
    delivery = wait_until(lambda: Delivery.objects.filter(status="succeeded").first(), timeout=60)
    codes = list(DeliveryAttempt.objects.order_by("number").values_list("response_code", flat=True))
    assert codes == [500, 500, 500, 200]
    assert delivery is not None and delivery.attempts == 4
    assert len(receiver.received) == 4
    ids = {_event(request)["id"] for request in receiver.received}
    assert ids == {WebhookEvent.objects.get().event_id}
    assert len({request.body for request in receiver.received}) == 1


@override_settings(DEPOT_WEBHOOKS_ALLOW_PRIVATE=False)
def test_a_loopback_receiver_is_refused_without_the_setting(shop: Shop, receiver: Receiver) -> None:
    # Given an endpoint on 127.0.0.1 and the default settings
    endpoint_create(url=receiver.url, events=["order.paid"])

    # When a customer buys
    buy(Client(), shop.personal)

    # Then no request was made, and the refusal is recorded for a later try
    assert receiver.received == []
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, None)
    attempt = DeliveryAttempt.objects.get()
    assert "127.0.0.1" in attempt.error and "private" in attempt.error
    assert attempt.response_code is None


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",  # loopback dressed as IPv6
        "http://0.0.0.0/hook",
        "http://localhost/hook",
        "http://100.64.0.1/hook",  # carrier NAT
    ],
)
@override_settings(DEPOT_WEBHOOKS_ALLOW_PRIVATE=False)
def test_internal_addresses_are_refused_before_connecting(transactional_db: None, url: str) -> None:
    endpoint_create(url=url, events=["release.published"])

    webhook_event_record(type="release.published", data={"object": "release", "id": 1})

    attempt = DeliveryAttempt.objects.get()
    assert attempt.response_code is None
    assert "loopback, private or reserved" in attempt.error


@override_settings(DEPOT_WEBHOOKS_ALLOW_PRIVATE=True)
def test_replay_from_the_admin_sends_the_same_event_again(shop: Shop, receiver: Receiver) -> None:
    # Given an order.paid that was delivered
    endpoint_create(url=receiver.url, events=["order.paid"])
    buy(Client(), shop.personal)
    (first,) = receiver.received
    delivery = Delivery.objects.get()
    staff = Client()
    staff.force_login(User.objects.create_superuser("vendor", "vendor@example.com", "pw"))

    # When the vendor replays it from the Deliveries list
    page = staff.get("/admin/webhooks/delivery/")
    assert page.status_code == 200 and "Send again" in page.content.decode()
    response = staff.post(
        "/admin/webhooks/delivery/",
        {"action": "replay", "_selected_action": [delivery.pk], "index": 0},
    )

    # Then the receiver gets the same id and body, freshly signed, and both tries are kept
    assert response.status_code == 302
    assert len(receiver.received) == 2
    second = receiver.received[1]
    assert second.body == first.body
    assert second.headers["Depot-Event-Id"] == first.headers["Depot-Event-Id"]
    assert WebhookEvent.objects.count() == 1
    assert list(DeliveryAttempt.objects.values_list("number", "response_code")) == [
        (1, 200),
        (2, 200),
    ]
    detail = staff.get(f"/admin/webhooks/delivery/{delivery.pk}/change/")
    assert detail.status_code == 200 and "thanks" in detail.content.decode()


@override_settings(
    DEPOT_WEBHOOKS_ALLOW_PRIVATE=True,
    DEPOT_WEBHOOKS_DISABLE_AFTER=2,
    DEPOT_WEBHOOKS_ALERT_EMAIL="vendor@example.com",
)
def test_an_endpoint_failing_too_often_is_turned_off_and_the_vendor_told_once(
    shop: Shop, receiver: Receiver
) -> None:
    # Given a receiver that always fails
    receiver.statuses[:] = [503] * 10
    endpoint_create(url=receiver.url, events=["order.paid", "license.issued"])

    # When two events fail (order.paid and license.issued of one purchase), and a third comes
    buy(Client(), shop.personal)
    buy(Client(), shop.business)

    # Then the endpoint was turned off after two failures in a row, with one e-mail
    endpoint = Endpoint.objects.get()
    assert endpoint.is_active is False
    assert "2 failures in a row" in endpoint.disabled_reason
    assert len(receiver.received) == 2
    alerts = [m for m in mail.outbox if "Webhook endpoint turned off" in m.subject]
    assert len(alerts) == 1 and alerts[0].to == ["vendor@example.com"]
    # …and the later events are kept, pending, for when it is turned on again
    assert Delivery.objects.filter(status="pending").count() == 4


def test_adding_an_endpoint_in_the_admin_shows_its_secret_once(transactional_db: None) -> None:
    staff = Client()
    staff.force_login(User.objects.create_superuser("vendor", "vendor@example.com", "pw"))

    response = staff.post(
        "/admin/webhooks/endpoint/add/",
        {
            "url": "https://crm.example.com/depot",
            "description": "CRM",
            "events": ["order.paid"],
            "is_active": "on",
        },
        follow=True,
    )

    assert response.status_code == 200
    shown = re.findall(r"whsec_[A-Za-z0-9_-]{43}", response.content.decode())
    assert len(shown) == 1
    endpoint = Endpoint.objects.get()
    assert endpoint.events == ["order.paid"] and endpoint.secret_hint == shown[0][-4:]
    again = staff.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    assert shown[0] not in again.content.decode()
