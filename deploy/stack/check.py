"""Drive a running `make stack` through nginx end to end; print what it saw, fail on a miss.

    .venv/bin/python deploy/stack/check.py [--stack-dir .stack]

As a visitor, an admin, a customer's WordPress site and a buyer would, against the store host
and the updates host (nginx), with the run directory's ready.json and seed.json for the URLs
and a seeded license that is active on a known site:

  1. the store page;
  2. the admin's sign-in page and one of its stylesheets, which nginx serves from disk
     (200, Cache-Control for a year, immutable);
  3. a licensed update check in the PUC dialect and the EDD `get_version` one;
  4. the package download: the updates role answers 302 to a pre-signed URL on the S3 server
     (moto), which answers the zip;
  5. a purchase with the test card: the confirmation page shows the license once the pipeline
     worker has issued it, and the receipt arrives at the SMTP sink (the mail worker), read
     from the Maildir in the run directory.

Each step prints one line; the exit status is the number of failed steps (0: all passed).
Only the standard library and requests (a dependency of the test requirements) are used.
"""

from __future__ import annotations

import argparse
import json
import mailbox
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[2]
CARD = "4242 4242 4242 4242"  # the test gateway pays with it (apps.store.gateways.test)
YEAR_IMMUTABLE = "public, max-age=31536000, immutable"  # deploy/nginx/depot-store.conf


class CheckFailed(Exception):
    pass


class Browser(requests.Session):
    """A session that sends Secure cookies back to http://127.0.0.1, as browsers do.

    Production settings mark the session and CSRF cookies Secure; the stack's nginx listens on
    plain HTTP on the loopback, which browsers treat as a secure context and requests does not
    (it would drop the CSRF cookie, and every form post would answer 403).
    """

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(*args, **kwargs)
        for cookie in self.cookies:
            if cookie.domain in ("127.0.0.1", "localhost", "localhost.local"):
                cookie.secure = False
        return response


@dataclass
class Stack:
    store: str
    updates: str
    s3: str
    dir: Path
    seed: dict[str, Any]

    @classmethod
    def load(cls, directory: Path) -> Stack:
        ready = directory / "ready.json"
        if not ready.exists():
            raise SystemExit(f"no running stack in {directory} (no ready.json): `make stack` first")
        urls = json.loads(ready.read_text())
        seed = json.loads((directory / "seed.json").read_text())
        return cls(
            store=urls["store"], updates=urls["updates"], s3=urls["s3"], dir=directory, seed=seed
        )


def expect(condition: object, what: str) -> None:
    if not condition:
        raise CheckFailed(what)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what} within {timeout:g} s")
        time.sleep(0.5)


def store_page(stack: Stack, _: dict[str, Any]) -> str:
    answer = requests.get(f"{stack.store}/", timeout=10)
    expect(answer.status_code == 200, f"store page answered {answer.status_code}")
    product = stack.seed["sample"]["product_name"]
    expect(product in answer.text, f"{product} is not on the store page")
    return f"GET / -> 200, {len(answer.content)} bytes, lists {product}"


def admin_with_css(stack: Stack, _: dict[str, Any]) -> str:
    login = requests.get(f"{stack.store}/admin/login/", timeout=10)
    expect(login.status_code == 200, f"admin login answered {login.status_code}")
    css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login.text)
    expect(css, "the admin login page links no hashed base.css")
    assert css is not None
    sheet = requests.get(
        stack.store + css.group(1), headers={"Accept-Encoding": "gzip"}, timeout=10
    )
    expect(sheet.status_code == 200, f"{css.group(1)} answered {sheet.status_code}")
    cache = sheet.headers.get("Cache-Control", "")
    expect(cache == YEAR_IMMUTABLE, f"{css.group(1)} Cache-Control {cache!r}")
    expect("text/css" in sheet.headers.get("Content-Type", ""), "the stylesheet is not text/css")
    return (
        f"GET /admin/login/ -> 200; GET {css.group(1)} -> 200, Cache-Control: {cache}, "
        f"Content-Encoding: {sheet.headers.get('Content-Encoding', '-')}"
    )


def _wordpress(stack: Stack) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = f"WordPress/6.7.1; {stack.seed['sample']['site']}"
    return session


def puc_check(stack: Stack, found: dict[str, Any]) -> str:
    sample = stack.seed["sample"]
    answer = _wordpress(stack).get(
        f"{stack.updates}/updates/puc/{sample['product']}/",
        params={"license_key": sample["key"], "installed_version": "1.0.0", "php": "8.2"},
        timeout=10,
    )
    expect(answer.status_code == 200, f"PUC answered {answer.status_code}: {answer.text[:300]}")
    document = answer.json()
    url = document.get("download_url") or ""
    expect(url.startswith(f"{stack.updates}/updates/download/"), f"download_url {url!r}")
    found["download_url"] = url
    version = document.get("version")
    return f"PUC {sample['product']} -> 200, version {version}, package link on the updates host"


def edd_get_version(stack: Stack, _: dict[str, Any]) -> str:
    sample = stack.seed["sample"]
    answer = _wordpress(stack).get(
        f"{stack.updates}/",
        params={
            "edd_action": "get_version",
            "item_name": sample["product_name"],
            "license": sample["key"],
            "url": sample["site"],
            "version": "1.0.0",
        },
        timeout=10,
    )
    expect(answer.status_code == 200, f"EDD answered {answer.status_code}")
    document = answer.json()
    expect(document.get("new_version"), f"EDD get_version without new_version: {document}")
    expect(document.get("package"), f"EDD get_version without a package: {document.get('msg')}")
    return (
        f"EDD /?edd_action=get_version -> 200, new_version {document['new_version']}, package link"
    )


def download(stack: Stack, found: dict[str, Any]) -> str:
    url = str(found.get("download_url") or "")
    expect(url, "no download link (the PUC check failed)")
    hop = _wordpress(stack).get(url, allow_redirects=False, timeout=10)
    expect(hop.status_code == 302, f"download answered {hop.status_code}, not 302")
    location = hop.headers["Location"]
    s3 = urlsplit(location)
    expect(location.startswith(f"{stack.s3}/"), f"the download goes to {location}, not to S3")
    expect("X-Amz-Signature" in location, f"not a pre-signed URL: {location}")
    package = requests.get(location, timeout=20)
    expect(package.status_code == 200, f"S3 answered {package.status_code}")
    expect(package.content[:2] == b"PK", "the package is not a zip")
    return (
        f"download -> 302 to {s3.scheme}://{s3.netloc} (pre-signed), "
        f"S3 -> 200, {len(package.content)} bytes of zip"
    )


def _csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10)
    expect(page.status_code == 200, f"{url} answered {page.status_code}")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    expect(token, f"no CSRF token on {url}")
    assert token is not None
    return token.group(1)


def _post(
    session: requests.Session, page: str, action: str, data: dict[str, str]
) -> requests.Response:
    token = _csrf(session, page)
    return session.post(
        action,
        data={"csrfmiddlewaretoken": token, **data},
        headers={"Referer": page},
        allow_redirects=False,
        timeout=30,
    )


def purchase(stack: Stack, found: dict[str, Any]) -> str:
    buyer = Browser()
    slug = stack.seed["sample"]["product"]
    product_page = f"{stack.store}/plugins/{slug}/"
    tier = re.search(r'name="tier" value="(\d+)"', buyer.get(product_page, timeout=10).text)
    expect(tier, f"no tier to buy on {product_page}")
    assert tier is not None
    added = _post(buyer, product_page, f"{stack.store}/cart/add/", {"tier": tier.group(1)})
    expect(added.status_code in (302, 303), f"cart/add answered {added.status_code}")
    checkout = buyer.get(f"{stack.store}/checkout/", timeout=10)
    token = re.search(r'name="checkout_token" value="([^"]+)"', checkout.text)
    expect(token, "no checkout form (is the cart empty? cookies lost?)")
    assert token is not None
    email = f"buyer-{int(time.time() * 1000)}@example.com"
    started = time.monotonic()
    paid = _post(
        buyer,
        f"{stack.store}/checkout/",
        f"{stack.store}/checkout/",
        {
            "checkout_token": token.group(1),
            "email": email,
            "name": "Stack Check",
            "country": "NL",
            "card_number": CARD,
            "card_expiry": "12/39",
            "card_cvc": "123",
        },
    )
    expect(paid.status_code == 303, f"checkout answered {paid.status_code}: {paid.text[-500:]}")
    confirmation = stack.store + paid.headers["Location"]

    def license_shown() -> str | None:
        page = buyer.get(confirmation, timeout=10).text
        key = re.search(r'<code class="key license-key">([A-Z0-9-]{20,})</code>', page)
        return key.group(1) if key else None

    key = wait_for(license_shown, 60, "no license on the confirmation page")
    issued = time.monotonic() - started
    found["buyer"] = email
    found["purchase_started"] = started
    return (
        f"checkout with {CARD} -> 303 {urlsplit(confirmation).path}; license …{key[-4:]} "
        f"on the confirmation page after {issued:.1f} s"
    )


def _messages_to(maildir: Path, email: str) -> list[Message]:
    found: list[Message] = []
    for message in mailbox.Maildir(maildir, create=False):
        if email in (message.get("To") or ""):
            found.append(message)
    return found


def receipt(stack: Stack, found: dict[str, Any]) -> str:
    email = str(found.get("buyer") or "")
    expect(email, "no purchase to get a receipt for")
    maildir = stack.dir / "mail"
    messages = wait_for(
        lambda: _messages_to(maildir, email), 60, f"no mail to {email} at the SMTP sink"
    )
    waited = time.monotonic() - found["purchase_started"]
    subjects = "; ".join(str(m.get("Subject")) for m in messages)
    return f"SMTP sink: {len(messages)} message(s) to {email} within {waited:.1f} s: {subjects}"


STEPS: list[tuple[str, Callable[[Stack, dict[str, Any]], str]]] = [
    ("store page", store_page),
    ("admin + static CSS", admin_with_css),
    ("PUC licensed check", puc_check),
    ("EDD get_version", edd_get_version),
    ("download via S3", download),
    ("purchase", purchase),
    ("receipt", receipt),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack-dir", type=Path, default=ROOT / ".stack")
    args = parser.parse_args(argv)
    stack = Stack.load(args.stack_dir.resolve())
    print(f"checking the stack at {stack.store} (store) and {stack.updates} (updates), via nginx")
    found: dict[str, Any] = {}
    failed = 0
    for name, step in STEPS:
        started = time.monotonic()
        try:
            said = step(stack, found)
        except (CheckFailed, requests.RequestException, OSError, ValueError, KeyError) as error:
            failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)
            continue
        print(f"ok   {name} ({time.monotonic() - started:.2f} s): {said}", flush=True)
    print(f"stack check: {len(STEPS) - failed} of {len(STEPS)} steps ok")
    return failed


if __name__ == "__main__":
    sys.exit(main())
