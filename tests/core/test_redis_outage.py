"""The store keeps selling through a Redis outage: stopped, or hung with its sockets open.

Each test runs its own redis-server (tests/services_redis.py) and stops or pauses that one.
Latencies are printed (pytest -s), never asserted; the breaker's own counters in /metrics say
how many times Redis was actually waited for.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client

from apps.store.models import Order
from tests.builders import Shop, checkout_token_of, shop_create
from tests.services_redis import PrivateRedis, private_redis_running

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
OPENED = "depot_redis_breaker_opened_total"
SKIPPED = "depot_redis_calls_skipped_total"
# Production's sign-in lock-out (counts in the database) and throttles (counts in Redis).
SIGN_IN_GUARDS = {"AXES_ENABLED": True, "RATELIMIT_ENABLE": True}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis_running(tmp_path) as server:
        yield server


class Visit:
    """A browser's requests, each with its status and latency."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.client = Client()
        self.steps: list[tuple[str, int, float]] = []

    def step(self, name: str, call: Callable[[Client], Any]) -> Any:
        started = time.monotonic()
        response = call(self.client)
        self.steps.append((name, response.status_code, (time.monotonic() - started) * 1000))
        return response

    def statuses(self) -> list[int]:
        return [status for _, status, _ in self.steps]

    def report(self) -> None:
        print(f"\n{self.label}:")
        for name, status, ms in self.steps:
            print(f"  {name:<16} {status}  {ms:7.1f} ms")


def _customer() -> User:
    return User.objects.create_user(
        username="buyer@example.com", email="buyer@example.com", password=PASSWORD
    )


def _buy_after_signing_in(visit: Visit, shop: Shop, customer: User) -> None:
    """A new visitor: catalogue, add to cart, a wrong coupon, sign in, cart, checkout, pay."""
    visit.step("catalogue", lambda c: c.get("/"))
    visit.step("add to cart", lambda c: c.post("/cart/add/", {"tier": shop.business.pk}))
    # A refused code is counted by a throttle in Redis (open while Redis is away).
    visit.step("unknown coupon", lambda c: c.post("/cart/coupon/", {"code": "NOSUCHCODE"}))
    visit.step(
        "sign in",
        lambda c: c.post("/account/login/", {"username": customer.email, "password": PASSWORD}),
    )
    cart = visit.step("cart", lambda c: c.get("/cart/"))
    tiers = [line.tier.pk for line in cart.context["cart"].lines]
    assert tiers == [shop.business.pk], "the cart did not survive the sign-in"
    page = visit.step("checkout page", lambda c: c.get("/checkout/"))
    form = {
        "checkout_token": checkout_token_of(page.content.decode()),
        "email": customer.email,
        "name": "Ada Lovelace",
        "country": "GB",
        "card_number": "4242 4242 4242 4242",
        "card_expiry": "12/39",
        "card_cvc": "123",
    }
    visit.step("pay", lambda c: c.post("/checkout/", form))
    visit.step("account", lambda c: c.get("/account/"))


def _metric(name: str) -> float:
    text = Client().get("/metrics").content.decode()
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _assert_sold(visit: Visit, customer: User) -> None:
    assert all(status < 500 for status in visit.statuses()), visit.steps
    order = Order.objects.get()
    assert (order.status, order.customer_id) == ("paid", customer.pk)
    # Signed in to the end, on a session the database holds.
    assert visit.steps[-1][1] == 200, visit.steps
    assert Session.objects.filter(session_key=visit.client.session.session_key).exists()


def test_a_new_visitor_buys_while_redis_is_stopped(private_redis: PrivateRedis) -> None:
    # Given: a shop, a customer with a password, and Redis shut down
    shop, customer = shop_create(), _customer()
    visit = Visit("Redis stopped")
    with private_redis.as_default_cache(**SIGN_IN_GUARDS):
        private_redis.stop()

        # When: a new visitor adds to the cart, signs in and pays
        _buy_after_signing_in(visit, shop, customer)

    # Then: no 5xx, the order is paid and the visitor is still signed in
    visit.report()
    _assert_sold(visit, customer)


def test_a_hung_redis_costs_one_timeout_per_breaker_window(private_redis: PrivateRedis) -> None:
    # Given: Redis accepting connections but answering nothing for longer than the visit
    shop, customer = shop_create(), _customer()
    visit = Visit("Redis hung (CLIENT PAUSE)")
    with private_redis.as_default_cache(DEPOT_CACHE_BREAKER_SECONDS=60, **SIGN_IN_GUARDS):
        opened, skipped = _metric(OPENED), _metric(SKIPPED)
        private_redis.pause(30_000)

        # When
        _buy_after_signing_in(visit, shop, customer)
        opened, skipped = _metric(OPENED) - opened, _metric(SKIPPED) - skipped

    # Then: the sale went through, and Redis was waited for once; every later call skipped it
    visit.report()
    print(f"  Redis timeouts waited for: {opened:.0f}; calls skipped by the breaker: {skipped:.0f}")
    _assert_sold(visit, customer)
    assert opened == 1
    assert skipped >= len(visit.steps)


def test_after_the_window_redis_is_tried_again_and_stale_sessions_are_not_served(
    private_redis: PrivateRedis,
) -> None:
    # Given: a visitor's cart cached in Redis, then Redis hangs (SIGSTOP) while they add a line
    shop = shop_create()
    visit = Visit("Redis hung, then back")
    with private_redis.as_default_cache(DEPOT_CACHE_BREAKER_SECONDS=1):
        visit.step("add personal", lambda c: c.post("/cart/add/", {"tier": shop.personal.pk}))
        key = visit.client.session.session_key
        assert private_redis.cli("EXISTS", f"depot:1:django.contrib.sessions.cached_db{key}") == "1"
        private_redis.freeze()
        visit.step("add business", lambda c: c.post("/cart/add/", {"tier": shop.business.pk}))

        # When: Redis answers again and the breaker's window has passed
        private_redis.thaw()
        time.sleep(1.2)
        cart = visit.step("cart", lambda c: c.get("/cart/"))

    # Then: the cart has both lines (the entry cached before the hang was not served) and
    # the session is in Redis again
    visit.report()
    assert all(status < 500 for status in visit.statuses()), visit.steps
    tiers = [line.tier.pk for line in cart.context["cart"].lines]
    assert tiers == [shop.personal.pk, shop.business.pk]
    assert private_redis.cli("EXISTS", f"depot:1:django.contrib.sessions.cached_db{key}") == "1"


def test_a_sign_out_while_redis_hangs_is_not_undone_when_it_returns(
    private_redis: PrivateRedis,
) -> None:
    # Given: a signed-in customer whose session Redis holds, then Redis hangs
    customer = _customer()
    visit = Visit("sign-out while Redis hangs")
    with private_redis.as_default_cache(DEPOT_CACHE_BREAKER_SECONDS=1):
        visit.step(
            "sign in",
            lambda c: c.post("/account/login/", {"username": customer.email, "password": PASSWORD}),
        )
        old_cookie = visit.client.cookies["sessionid"].value
        private_redis.freeze()

        # When: they sign out, Redis comes back, and someone replays the old cookie
        visit.step("sign out", lambda c: c.post("/account/logout/"))
        private_redis.thaw()
        time.sleep(1.2)
        replay = Client()
        replay.cookies["sessionid"] = old_cookie
        account = replay.get("/account/")

    # Then: signed out for good
    visit.report()
    assert all(status < 500 for status in visit.statuses()), visit.steps
    assert account.status_code == 302 and account["Location"].startswith("/account/login/")
    assert not Session.objects.filter(session_key=old_cookie).exists()


def test_with_the_subscription_lost_and_redis_hung_update_checks_answer_from_the_database(
    private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.client import PubSub

    from tests.builders import WP_UA, license_make, product_listed, release_make

    attempts: list[str] = []
    subscribe = PubSub.subscribe

    def counted(self: PubSub, *args: Any, **kwargs: Any) -> Any:
        attempts.append("subscribe")
        return subscribe(self, *args, **kwargs)

    monkeypatch.setattr(PubSub, "subscribe", counted)
    product = product_listed()
    release_make(product, "2.4.1")
    key = license_make(product).key
    client = Client()

    def check() -> int:
        return client.get(
            "/updates/puc/formwell/", {"license_key": key}, HTTP_USER_AGENT=WP_UA
        ).status_code

    with private_redis.as_default_cache(DEPOT_CACHE_BREAKER_SECONDS=60):
        # Given a process whose update checks answer from its own copy (subscribed once)
        assert [check(), check(), check()] == [200, 200, 200]
        assert attempts == ["subscribe"]
        # when Redis drops the subscription and then hangs
        private_redis.cli("CLIENT", "KILL", "TYPE", "pubsub")
        private_redis.pause(12_000)
        statuses = []
        # (longer than the update cache's own 5 s pause after a failure, hotcache.BREAKER_SECONDS)
        deadline = time.monotonic() + 9
        while time.monotonic() < deadline:
            statuses.append(check())
            time.sleep(0.2)

    # then checks go on from the database (a try to subscribe again while the update cache
    # was marked down once answered 500), and Redis is not asked to subscribe over and over
    assert set(statuses) == {200}
    assert len(attempts) <= 2, attempts
