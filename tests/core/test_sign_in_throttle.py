"""Throttles on sign-in (store and admin), password-reset requests and coupon guessing.

The test settings turn axes and the rate limits off (the test client's login() has no request,
and counts in Redis outlive a test); the `throttled` fixture turns them on with small limits.
Each test comes from addresses of its own, so counts left in Redis by another test never meet.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from apps.store.models import Coupon
from tests.builders import shop_create

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOCKED = "Too many failed sign-ins; try again in 15 minutes."
_addresses = itertools.count(1)


@pytest.fixture
def throttled(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.RATELIMIT_ENABLE = True
    settings.DEPOT_PASSWORD_RESET_RATE_IP = "3/h"
    settings.DEPOT_PASSWORD_RESET_RATE_EMAIL = "2/h"
    settings.DEPOT_COUPON_FAILURE_RATE = "3/h"
    return settings


@pytest.fixture
def new_client() -> Callable[[], Client]:
    """Return clients, each from an address no other client of this run has used."""
    run = uuid.uuid4().int

    def make() -> Client:
        n = next(_addresses)
        return Client(REMOTE_ADDR=f"10.{run % 250}.{n // 250}.{n % 250 + 1}")

    return make


@pytest.fixture
def customer() -> User:
    return User.objects.create_user("buyer", email="buyer@example.com", password=PASSWORD)


def _sign_in(client: Client, username: str, password: str, path: str = "/account/login/"):
    return client.post(path, {"username": username, "password": password})


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _refusal(page: str) -> str:
    match = re.search(r'<ul class="errorlist" id="reset-refused"><li>(.*?)</li>', page)
    assert match, "the page gives no reason"
    return match.group(1)


# Signing in to the store


def test_repeated_failures_lock_the_account_with_a_clear_message_on_the_login_page(
    throttled, new_client, customer
):
    # Given
    client = new_client()
    for _ in range(2):
        assert _sign_in(client, "buyer@example.com", "not it").status_code == 200

    # When: the third failure reaches the limit
    response = _sign_in(client, "buyer@example.com", "not it")

    # Then
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page
    assert 'id="login-form"' in page
    assert "do not match an account" not in page
    assert int(response["Retry-After"]) == 15 * 60

    # When: even the right password, during the cool-off
    response = _sign_in(client, "buyer@example.com", PASSWORD)

    # Then
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert not _signed_in(client)
    assert not AccessLog.objects.exists()


def test_the_lock_follows_the_account_from_any_address(throttled, new_client, customer):
    # Given: failures for one account from three addresses, in any spelling of its e-mail
    for spelling in ("buyer@example.com", "Buyer@Example.com", "BUYER@example.com"):
        _sign_in(new_client(), spelling, "not it")
    other = User.objects.create_user("other", email="other@example.com", password=PASSWORD)

    # When
    fresh = new_client()
    refused = _sign_in(fresh, "buyer@example.com", PASSWORD)

    # Then
    assert refused.status_code == 429
    assert not _signed_in(fresh)
    # Another account from the same address is not locked.
    assert _sign_in(fresh, other.email, PASSWORD).status_code == 302
    assert _signed_in(fresh)


def test_the_lock_follows_the_address_whatever_the_account(throttled, new_client, customer):
    # Given: one address guessing three different accounts
    guesser = new_client()
    for n in range(3):
        _sign_in(guesser, f"someone{n}@example.com", "123456")

    # When
    refused = _sign_in(guesser, "buyer@example.com", PASSWORD)

    # Then
    assert refused.status_code == 429
    assert not _signed_in(guesser)
    # The customer, from their own address, is not locked out.
    elsewhere = new_client()
    assert _sign_in(elsewhere, "buyer@example.com", PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off(throttled, new_client, customer):
    # Given
    client = new_client()
    for _ in range(3):
        _sign_in(client, "buyer@example.com", "not it")
    assert _sign_in(client, "buyer@example.com", PASSWORD).status_code == 429

    # When: the cool-off has passed since the latest attempt
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = _sign_in(client, "buyer@example.com", PASSWORD)

    # Then
    assert response.status_code == 302
    assert _signed_in(client)


def test_a_successful_sign_in_clears_the_failures(throttled, new_client, customer):
    # Given
    client = new_client()
    for _ in range(2):
        _sign_in(client, "buyer@example.com", "not it")
    assert _sign_in(client, "buyer@example.com", PASSWORD).status_code == 302
    client.post("/account/logout/")

    # When
    for _ in range(2):
        _sign_in(client, "buyer@example.com", "not it")
    response = _sign_in(client, "buyer@example.com", PASSWORD)

    # Then
    assert response.status_code == 302


# Signing in to the admin


def test_the_admin_login_locks_out_too_with_the_message_on_its_own_page(throttled, new_client):
    # Given: a staff account guessed in three spellings from three addresses
    User.objects.create_user("boss", password=PASSWORD, is_staff=True, is_superuser=True)
    for spelling in ("boss", "Boss", "BOSS"):
        _sign_in(new_client(), spelling, "hunter2", path="/admin/login/")

    # When
    client = new_client()
    response = _sign_in(client, "boss", PASSWORD, path="/admin/login/")

    # Then
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page
    assert "Django administration" in page or "site administration" in page.lower()
    assert not _signed_in(client)
    assert client.get("/admin/").status_code == 302


# Password-reset requests


def test_password_reset_requests_are_throttled_per_address_whatever_the_email(
    throttled, new_client, customer
):
    # Given: three requests, for an account and for addresses without one
    client = new_client()
    for email in ("buyer@example.com", "nobody@example.com", "ghost@example.com"):
        assert client.post("/account/password-reset/", {"email": email}).status_code == 302
    sent = len(mail.outbox)

    # When
    refused = [
        client.post("/account/password-reset/", {"email": email})
        for email in ("buyer@example.com", "nobody2@example.com")
    ]

    # Then: the same refusal for an account and for none, and no mail
    assert [r.status_code for r in refused] == [429, 429]
    reasons = [_refusal(r.content.decode()) for r in refused]
    assert reasons[0].startswith("Too many links were asked for; try again in")
    assert reasons[0] == reasons[1]
    assert len(mail.outbox) == sent


def test_password_reset_requests_are_throttled_per_email_from_any_address(
    throttled, new_client, customer
):
    # Given
    email = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    customer.email = email
    customer.save()
    for _ in range(2):
        assert new_client().post("/account/password-reset/", {"email": email}).status_code == 302
    assert len(mail.outbox) == 2

    # When
    response = new_client().post("/account/password-reset/", {"email": email.upper()})

    # Then
    assert response.status_code == 429
    assert "Too many links were asked for" in response.content.decode()
    assert len(mail.outbox) == 2


def test_password_reset_is_not_throttled_shut_when_the_cache_is_down(
    throttled, new_client, customer
):
    # Given: the cache (Redis) does not answer
    dead = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
    client = new_client()

    # When
    with override_settings(CACHES={"default": dead}):
        responses = [
            client.post("/account/password-reset/", {"email": "buyer@example.com"})
            for _ in range(4)
        ]

    # Then: the limit fails open, the link still goes out
    assert [r.status_code for r in responses] == [302] * 4
    assert len(mail.outbox) == 4


# Coupon guessing


def test_refused_coupon_codes_are_throttled_per_address(throttled, new_client):
    # Given: three wrong guesses
    shop = shop_create()
    Coupon.objects.create(code="REAL50", kind="percent", value=50)
    client = new_client()
    client.post("/cart/add/", {"tier": shop.personal.pk})
    for guess in ("AAAA", "BBBB", "CCCC"):
        client.post("/cart/coupon/", {"code": guess})

    # When: even a real code, during the cool-off
    response = client.post("/cart/coupon/", {"code": "REAL50"}, follow=True)

    # Then
    messages = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("Too many coupon codes tried; try again in") for m in messages)
    assert response.context["cart"].discount == 0
    assert client.session["depot_cart"]["coupon"] == ""

    # And a buyer at another address is not held up
    other = new_client()
    other.post("/cart/add/", {"tier": shop.personal.pk})
    response = other.post("/cart/coupon/", {"code": "REAL50"}, follow=True)
    assert response.context["cart"].discount == 2450


def test_accepted_coupon_codes_do_not_count_towards_the_throttle(throttled, new_client):
    # Given
    shop = shop_create()
    Coupon.objects.create(code="REAL50", kind="percent", value=50)
    client = new_client()
    client.post("/cart/add/", {"tier": shop.personal.pk})

    # When: the real code, more often than the limit of refused ones
    for _ in range(5):
        response = client.post("/cart/coupon/", {"code": "REAL50"}, follow=True)

    # Then
    assert [str(m) for m in response.context["messages"]] == ["Coupon REAL50 applied."]
    assert response.context["cart"].discount == 2450
