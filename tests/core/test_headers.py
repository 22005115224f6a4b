"""Security headers: a Content-Security-Policy on every HTML page, no-store on pages with a key."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User

from apps.licenses.models import License
from tests.builders import Shop, buy, customer_make, license_make, shop_create

PASSWORD = "correct horse battery staple"
CHROMIUM = os.environ.get("DEPOT_CHROMIUM", "/usr/bin/chromium")


@dataclass
class Store:
    shop: Shop
    customer: User
    license: License
    confirmation: str


@pytest.fixture
def store(client) -> Store:
    shop = shop_create()
    customer = customer_make(password=PASSWORD)
    license, _ = license_make(
        shop.product,
        email=customer.email,
        sites=5,
        days=100,
        customer=customer,
        tier=shop.business,
    )
    paid = buy(client, shop.personal, email="guest@example.com")
    assert paid.status_code in (302, 303), paid.status_code
    client.cookies.clear()
    return Store(shop=shop, customer=customer, license=license, confirmation=paid["Location"])


def _policy(response) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy", "")
    assert header, f"no Content-Security-Policy on {response.wsgi_request.path}"
    policy = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        policy[name] = values
    return policy


def _assert_inline_code_carries_the_nonce(response) -> None:
    """Inline <script> and <style> run only with this response's nonce; no on*= handlers."""
    policy = _policy(response)
    nonces = {v for v in policy["script-src"] if v.startswith("'nonce-")}
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["style-src"]
    html = response.content.decode()
    inline = re.findall(r"<(script|style)\b([^>]*)>", html)
    for tag, attributes in inline:
        if tag == "script" and ("src=" in attributes or "application/json" in attributes):
            continue
        nonce = re.search(r'nonce="([^"]+)"', attributes)
        assert nonce, f"<{tag}{attributes}> without a nonce on {response.wsgi_request.path}"
        assert f"'nonce-{nonce.group(1)}'" in nonces
        assert f"'nonce-{nonce.group(1)}'" in policy["style-src"]
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), "an inline event handler"


@pytest.mark.django_db
def test_every_store_page_sends_the_policy_and_its_inline_code_has_the_nonce(client, store):
    # Given a catalogue, a paid order and a customer with a license
    pages = ["/", "/plugins/formwell/", "/account/login/", "/account/password-reset/"]
    client.post("/cart/add/", {"tier": store.shop.personal.pk})
    pages += ["/cart/", "/checkout/", store.confirmation]

    # When a stranger and then the signed-in customer open the store's pages
    responses = [client.get(url) for url in pages]
    client.force_login(store.customer)
    responses += [
        client.get(url)
        for url in (
            "/account/",
            f"/account/licenses/{store.license.pk}/",
            "/account/downloads/",
        )
    ]
    responses.append(client.post(f"/account/licenses/{store.license.pk}/key/"))

    # Then each is an HTML page with the policy, and its inline <style>/<script> the nonce
    for response in responses:
        assert response.status_code == 200, (response.wsgi_request.path, response.status_code)
        assert response["Content-Type"].startswith("text/html")
        policy = _policy(response)
        assert policy["default-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["form-action"] == ["'self'"]
        _assert_inline_code_carries_the_nonce(response)
    # (the checkout's script and base.html's styles are the inline code there is)
    checkout = responses[pages.index("/checkout/")].content.decode()
    assert re.search(r'<script nonce="[^"]+">', checkout)


@pytest.mark.django_db
def test_each_response_has_its_own_nonce(client, store):
    first, second = client.get("/"), client.get("/")

    assert _policy(first)["script-src"] != _policy(second)["script-src"]


@pytest.mark.django_db
def test_pages_that_show_a_key_are_never_stored(client, store):
    # Given the confirmation (keys, by ?key=) and the signed-in customer's account pages
    confirmation = client.get(store.confirmation)
    client.force_login(store.customer)
    account_pages = [
        client.get("/account/"),
        client.get(f"/account/licenses/{store.license.pk}/"),
        client.post(f"/account/licenses/{store.license.pk}/key/"),
        client.get("/account/downloads/"),
    ]

    # Then no browser or proxy cache may keep a copy of any of them
    for response in [confirmation, *account_pages]:
        assert response.status_code == 200, response.wsgi_request.path
        assert "no-store" in response["Cache-Control"], response.wsgi_request.path
        assert "private" in response["Cache-Control"]
    # And the catalogue, which shows no key, stays cacheable
    assert "no-store" not in client.get("/").get("Cache-Control", "")


@pytest.mark.django_db
def test_the_admin_sends_the_policy_and_needs_no_inline_script(client, store):
    # Given a staff user
    admin = User.objects.create_superuser("boss", "boss@example.com", PASSWORD)

    # When the admin's sign-in page, its index, a list and a change form are opened
    login = client.get("/admin/login/")
    client.force_login(admin)
    pages = [
        client.get("/admin/"),
        client.get("/admin/licenses/license/"),
        client.get(f"/admin/licenses/license/{store.license.pk}/change/"),
    ]

    # Then each carries the policy and every script of the admin is a file ('self')
    for response in [login, *pages]:
        assert response.status_code == 200, response.wsgi_request.path
        policy = _policy(response)
        assert "'self'" in policy["script-src"]
        html = response.content.decode()
        for attributes in re.findall(r"<script\b([^>]*)>", html):
            assert "src=" in attributes or "application/json" in attributes, attributes
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), response.wsgi_request.path


# In a real browser: nothing the store or the admin needs is refused by the policy.


def _chromium_missing() -> str | None:
    import importlib.util

    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM}"
    return None


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    missing = _chromium_missing()
    if missing and os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an asyncio loop on this thread; the test's ORM calls are sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


def test_chromium_refuses_nothing_on_the_store_and_the_admin(live_server, chromium, settings):
    # Given a product on sale and a staff user, served by a live server
    shop_create()
    User.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    page = chromium.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    # When a visitor opens the plugin page, puts a tier in the cart and opens the checkout
    page.goto(f"{live_server.url}/plugins/formwell/")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.locator("form[action='/cart/add/'] button").first.click()
    page.goto(f"{live_server.url}/checkout/")
    # and a staff member signs in to the admin and opens a list and an add form
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/licenses/license/")
    page.goto(f"{live_server.url}/admin/licenses/product/add/")
    # (admin/js/theme.js marks the page once it has run)
    admin_theme = page.evaluate("document.documentElement.dataset.theme")

    # Then base.html's styles applied (its <style> carries the nonce), the admin's scripts
    # ran, and the browser refused nothing
    assert background == "rgb(246, 247, 247)"
    assert admin_theme == "auto"
    assert refused == []
