"""Locust users for `make load`: buyers in a flash sale, WordPress sites in an update storm, admins.

    locust -f bench/load/locustfile.py --headless Buyer Site Admin ...   (bench/load/run.py)

Everything goes to a running `make stack` through nginx on 127.0.0.1: the store host for
buyers and admins, the updates host for sites. What the users need is read from the stack's
run directory (LOAD_STACK_DIR, default .stack): ready.json (URLs), seed.json (the admin's
password and TOTP secret, the coupon) and sites.jsonl (the seeded licenses with their keys and
sites, written by seed_stack --sites-file). Each buyer's order is appended to
LOAD_OUT/buyers.jsonl, for the invariants and the report.

What each user does, and why it is shaped so:

- Buyer (flash sale): the catalogue, a plugin page or two, adds a tier, one in three applies
  the seeded coupon, pays with the test gateway's card, then waits on the confirmation page the
  way the browser does (the page carries <meta http-equiv="refresh" content="2"> while the key
  is being issued, apps/store/templates/store/confirmation.html), for at most 90 s. One in five
  then signs in to the account: seeded and new accounts have unusable passwords until set, so
  the buyer reads the receipt at the SMTP sink's Maildir (as they would their inbox), follows
  its set-password link, sets one (which signs them in) and opens the account page.
- Site (update storm): a WordPress site with one of the seeded licenses (active, expired,
  disabled or revoked, as seeded), or an unlicensed one, or one asking about a plugin this
  store does not sell; checks through PUC (45 %), EDD get_version (35 %) and the native batch
  (20 %, with two third-party plugins in the batch). A site that is offered an update
  downloads it (the 302 to S3 and the zip) with probability LOAD_DOWNLOAD_SHARE (default 0.05:
  most sites are up to date or update later).
- Admin (mixed): signs in with password and TOTP (pyotp), then opens the order list, the
  license search, the install statistics and the outbox, every few seconds.

Expected refusals (404 for a slug not sold here, 403 for an expired license's activation,
429 when the per-address quota is hit) are counted as successes by name; any 5xx or a
connection error is a failure. Locust's stats history (CSV) is what the report plots.
"""

from __future__ import annotations

import json
import mailbox
import os
import random
import re
import threading
import time
from pathlib import Path
from typing import Any

import gevent
from browser import browser_retries
from locust import FastHttpUser, HttpUser, between, events, task

ROOT = Path(__file__).resolve().parents[2]
STACK_DIR = Path(os.environ.get("LOAD_STACK_DIR") or ROOT / ".stack").resolve()
OUT = Path(os.environ.get("LOAD_OUT") or ROOT / "bench" / "load" / "report" / "latest")
CARD = "4242 4242 4242 4242"  # approved by apps.store.gateways.test
SIGN_IN_SHARE = float(os.environ.get("LOAD_SIGN_IN_SHARE", "0.2"))
COUPON_SHARE = float(os.environ.get("LOAD_COUPON_SHARE", "0.33"))
DOWNLOAD_SHARE = float(os.environ.get("LOAD_DOWNLOAD_SHARE", "0.05"))
CONFIRMATION_WAIT = 90.0
THIRD_PARTY = ("akismet", "woocommerce", "contact-form-7", "wordpress-seo", "elementor")
KEY_RE = re.compile(r'<code class="key license-key">([A-Z0-9-]{20,})</code>')
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


READY = _json(STACK_DIR / "ready.json")
SEED = _json(STACK_DIR / "seed.json")
STORE = str(READY.get("store") or "http://127.0.0.1:18080")
UPDATES = str(READY.get("updates") or "http://127.0.0.1:18081")


def _licenses() -> list[dict[str, Any]]:
    path = STACK_DIR / "sites.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


LICENSES = _licenses()
SLUGS = sorted({row["slug"] for row in LICENSES}) or ["formwell"]
NAMES = {row["slug"]: row["name"] for row in LICENSES}
_write_lock = threading.Lock()


def record(name: str, row: dict[str, Any]) -> None:
    """Append one JSON line to LOAD_OUT/<name>.jsonl (orders seen, sign-ins)."""
    OUT.mkdir(parents=True, exist_ok=True)
    with _write_lock, (OUT / f"{name}.jsonl").open("a") as out:
        out.write(json.dumps(row) + "\n")


class Inbox:
    """The SMTP sink's Maildir, read once a second for every waiting buyer together."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.links: dict[str, str] = {}
        self.seen: set[str] = set()
        self.last = 0.0

    def refresh(self) -> None:
        if time.monotonic() - self.last < 1.0 or not self.directory.exists():
            return
        self.last = time.monotonic()
        box = mailbox.Maildir(self.directory, create=False)
        for key in box.iterkeys():
            if key in self.seen:
                continue
            self.seen.add(key)
            try:
                message = box[key]
            except (KeyError, OSError):
                continue
            to = str(message.get("To") or "")
            body = _text_of(message)
            link = re.search(r"(https?://\S+/account/password/\S+/\S+/)", body)
            if link:
                self.links[to.strip()] = link.group(1)

    def link_for(self, email: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.refresh()
            if email in self.links:
                return self.links[email]
            gevent.sleep(1.0)
        return None


def _text_of(message: mailbox.MaildirMessage) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    for part in parts:
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(errors="replace")
    return ""


INBOX = Inbox(STACK_DIR / "mail")


def _unsecure(client: Any) -> None:
    """Send Secure cookies back to http://127.0.0.1, as browsers do (deploy/stack/check.py)."""
    for cookie in client.cookies:
        if cookie.domain in ("127.0.0.1", "localhost", "localhost.local"):
            cookie.secure = False


def _csrf(text: str) -> str:
    found = CSRF_RE.search(text)
    return found.group(1) if found else ""


class Buyer(HttpUser):
    """A visitor in the flash sale: browse, cart, coupon, pay, wait for the key, sign in."""

    host = STORE
    weight = 10
    wait_time = between(5, 15)

    def on_start(self) -> None:
        browser_retries(self.client)

    def _get(self, path: str, name: str | None = None) -> Any:
        url = path if path.startswith("http") else STORE + path
        response = self.client.get(url, name=name or path, timeout=30)
        _unsecure(self.client)
        return response

    def _post(self, path: str, data: dict[str, str], referer: str, name: str) -> Any:
        response = self.client.post(
            STORE + path,
            data=data,
            headers={"Referer": STORE + referer},
            allow_redirects=False,
            name=name,
            timeout=60,
        )
        _unsecure(self.client)
        return response

    def think(self, low: float = 0.5, high: float = 2.0) -> None:
        gevent.sleep(random.uniform(low, high))

    @task
    def buy(self) -> None:
        self.client.cookies.clear()
        self._get("/")
        self.think()
        slug = random.choice(SLUGS)
        if random.random() < 0.5:
            self._get(f"/plugins/{random.choice(SLUGS)}/", name="/plugins/[slug]/")
            self.think()
        page = self._get(f"/plugins/{slug}/", name="/plugins/[slug]/")
        tiers = re.findall(r'name="tier" value="(\d+)"', page.text)
        if page.status_code != 200 or not tiers:
            return
        self.think()
        added = self._post(
            "/cart/add/",
            {"csrfmiddlewaretoken": _csrf(page.text), "tier": random.choice(tiers)},
            f"/plugins/{slug}/",
            "/cart/add/",
        )
        if added.status_code not in (302, 303):
            return
        cart = self._get("/cart/")
        if random.random() < COUPON_SHARE:
            self.think()
            self._post(
                "/cart/coupon/",
                {"csrfmiddlewaretoken": _csrf(cart.text), "code": SEED.get("coupon", "LAUNCH20")},
                "/cart/",
                "/cart/coupon/",
            )
        self.think()
        checkout = self._get("/checkout/")
        token = re.search(r'name="checkout_token" value="([^"]+)"', checkout.text)
        if not token:
            return
        self.think(2, 6)  # filling in the form
        email = f"sale-{os.getpid()}-{id(self)}-{time.time_ns()}@buyers.load.example"
        started = time.monotonic()
        paid = self._post(
            "/checkout/",
            {
                "csrfmiddlewaretoken": _csrf(checkout.text),
                "checkout_token": token.group(1),
                "email": email,
                "name": "Load Buyer",
                "country": "NL",
                "card_number": CARD,
                "card_expiry": "12/39",
                "card_cvc": "123",
            },
            "/checkout/",
            "/checkout/ (pay)",
        )
        if paid.status_code != 303:
            record("buyers", {"email": email, "paid": False, "status": paid.status_code})
            return
        location = paid.headers["Location"]
        number = location.rstrip("/").split("/")[-1].split("?")[0]
        key = self.wait_for_key(location)
        record(
            "buyers",
            {
                "email": email,
                "paid": True,
                "order": number,
                "key_seen": bool(key),
                "seconds_to_key": round(time.monotonic() - started, 2) if key else None,
                "at": time.time(),
            },
        )
        if key and random.random() < SIGN_IN_SHARE:
            self.sign_in(email)

    def wait_for_key(self, location: str) -> str | None:
        """Reload the confirmation page every 2 s, as its meta refresh does, until the key."""
        deadline = time.monotonic() + CONFIRMATION_WAIT
        path = location if location.startswith("/") else "/" + location.split("/", 3)[-1]
        while time.monotonic() < deadline:
            page = self._get(path, name="/orders/[number]/")
            key = KEY_RE.search(page.text) if page.status_code == 200 else None
            if key:
                return key.group(1)
            gevent.sleep(2.0)
        return None

    def sign_in(self, email: str) -> None:
        """Set the account's password from the receipt's link (which signs in), then /account/."""
        link = INBOX.link_for(email, timeout=60)
        if link is None:
            record("signins", {"email": email, "ok": False, "why": "no receipt link in 60 s"})
            return
        path = "/" + link.split("/", 3)[-1]
        # Django keeps the token in the session and redirects to .../set-password/: the session
        # cookie (Secure) must be un-secured before that redirect is followed.
        hop = self.client.get(
            STORE + path,
            name="/account/password/[uid]/[token]/",
            allow_redirects=False,
            timeout=30,
        )
        _unsecure(self.client)
        target = hop.headers.get("Location", path) if hop.status_code == 302 else path
        form = self._get(target, name="/account/password/[uid]/set-password/ (form)")
        password = f"Load-{random.getrandbits(64):x}-pw"
        done = self.client.post(
            form.url,
            data={
                "csrfmiddlewaretoken": _csrf(form.text),
                "new_password1": password,
                "new_password2": password,
            },
            headers={"Referer": form.url},
            allow_redirects=False,
            name="/account/password/[uid]/set-password/",
            timeout=30,
        )
        _unsecure(self.client)
        account = self._get("/account/")
        ok = (
            done.status_code in (302, 303)
            and account.status_code == 200
            and "/login" not in (account.url or "")
        )
        record("signins", {"email": email, "ok": ok, "status": account.status_code})


def _site_license() -> dict[str, Any] | None:
    """One of the seeded licenses, or None for an unlicensed site (a tenth of them)."""
    if not LICENSES or random.random() < 0.1:
        return None
    return random.choice(LICENSES)


class Site(FastHttpUser):
    """A WordPress site checking for updates, now and then downloading one."""

    host = UPDATES
    weight = 30
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.license = _site_license()
        if self.license and self.license["sites"]:
            self.site = random.choice(self.license["sites"])
        else:
            self.site = f"https://site{random.getrandbits(40):x}.load.example/"
        self.slug = self.license["slug"] if self.license else random.choice(SLUGS)
        self.installed = "1.0.0"

    @property
    def agent(self) -> dict[str, str]:
        return {"User-Agent": f"WordPress/6.7.1; {self.site}"}

    def _ok(self, response: Any, allowed: tuple[int, ...] = (200, 404, 403, 429)) -> None:
        if response.status_code in allowed:
            response.success()
        else:
            response.failure(f"HTTP {response.status_code}")

    def _download(self, url: str) -> None:
        if not url or random.random() >= DOWNLOAD_SHARE:
            return
        with self.client.get(
            url, name="/updates/download/[token]", allow_redirects=False, catch_response=True
        ) as hop:
            if hop.status_code != 302:
                self._ok(hop, (200, 403, 404, 410, 429))
                return
            hop.success()
            location = hop.headers.get("Location", "")
        with self.client.get(location, name="S3 package", catch_response=True) as package:
            self._ok(package, (200,))

    @task(45)
    def puc(self) -> None:
        slug = random.choice(THIRD_PARTY) if random.random() < 0.05 else self.slug
        params = f"installed_version={self.installed}&php=8.2"
        if self.license:
            params += f"&license_key={self.license['key']}"
        with self.client.get(
            f"/updates/puc/{slug}/?{params}",
            headers=self.agent,
            name="/updates/puc/[slug]/",
            catch_response=True,
        ) as response:
            self._ok(response)
            url = response.json().get("download_url", "") if response.status_code == 200 else ""
        self._download(url or "")

    @task(35)
    def edd(self) -> None:
        name = NAMES.get(self.slug, self.slug)
        query = f"edd_action=get_version&item_name={name}&url={self.site}&version={self.installed}"
        if self.license:
            query += f"&license={self.license['key']}"
        with self.client.get(
            f"/?{query}", headers=self.agent, name="/?edd_action=get_version", catch_response=True
        ) as response:
            self._ok(response)
            url = response.json().get("package", "") if response.status_code == 200 else ""
        self._download(url or "")

    @task(20)
    def native(self) -> None:
        mine = f"{self.slug}/{self.slug}.php"
        plugins = {mine: {"Name": NAMES.get(self.slug, self.slug), "Version": self.installed}}
        for other in random.sample(THIRD_PARTY, 2):
            plugins[f"{other}/{other}.php"] = {"Name": other, "Version": "1.0"}
        body = {
            "plugins": {"plugins": plugins, "active": list(plugins)},
            "licenses": {mine: self.license["key"]} if self.license else {},
            "site_url": self.site,
            "wp_version": "6.7.1",
            "php_version": "8.2",
            "locale": "en_US",
        }
        with self.client.post(
            "/updates/v1/check",
            json=body,
            headers=self.agent,
            name="/updates/v1/check",
            catch_response=True,
        ) as response:
            self._ok(response, (200, 429))
            offered = response.json().get("plugins", {}) if response.status_code == 200 else {}
        self._download((offered.get(mine) or {}).get("package", ""))


class Admin(HttpUser):
    """Staff opening the admin's lists ("reports") every few seconds, signed in with TOTP."""

    host = STORE
    fixed_count = 1
    wait_time = between(3, 8)

    def on_start(self) -> None:
        self.signed_in = False
        browser_retries(self.client)

    def sign_in(self) -> None:
        import pyotp

        admin = SEED.get("admin") or {}
        page = self.client.get(STORE + "/admin/login/", name="/admin/login/")
        _unsecure(self.client)
        code = pyotp.TOTP(admin.get("totp_secret", "")).now()
        done = self.client.post(
            STORE + "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": _csrf(page.text),
                "username": admin.get("username", "admin"),
                "password": admin.get("password", ""),
                "otp_token": code,
                "next": "/admin/",
            },
            headers={"Referer": STORE + "/admin/login/"},
            allow_redirects=False,
            name="/admin/login/ (sign in)",
        )
        _unsecure(self.client)
        self.signed_in = done.status_code == 302
        if not self.signed_in:
            gevent.sleep(31)  # a TOTP code is taken once: wait for the next one

    @task
    def reports(self) -> None:
        if not self.signed_in:
            self.sign_in()
            return
        for path, name in (
            ("/admin/store/order/", None),
            (f"/admin/licenses/license/?q={random.choice(SLUGS)}", "/admin/licenses/license/?q"),
            ("/admin/updates/installday/", None),
            ("/admin/core/outboxevent/", None),
        ):
            response = self.client.get(STORE + path, name=name or path, allow_redirects=False)
            if response.status_code == 302:  # the session ended (Redis lost it): sign in again
                self.signed_in = False
                return
            gevent.sleep(random.uniform(1, 3))


@events.init.add_listener
def _announce(environment: Any, **_: Any) -> None:
    print(
        f"load: store {STORE}, updates {UPDATES}, {len(LICENSES)} seeded licenses, "
        f"run dir {STACK_DIR}, out {OUT}",
        flush=True,
    )


_errors_lock = threading.Lock()
_requests_file: list[Any] = []


def _requests_log() -> Any:
    if not _requests_file:
        OUT.mkdir(parents=True, exist_ok=True)
        _requests_file.append((OUT / "requests.csv").open("a", buffering=1 << 16))
    return _requests_file[0]


@events.quitting.add_listener
def _requests_close(**_: Any) -> None:
    for file in _requests_file:
        file.close()


@events.request.add_listener
def _error_log(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    response: Any = None,
    exception: BaseException | None = None,
    **_: Any,
) -> None:
    """Every request to requests.csv (the report's source); each 5xx also to errors.jsonl.

    errors.jsonl holds each 5xx and connection error with its time: the invariant "no 5xx
    outside the fault windows". requests.csv (time, name, milliseconds, status, failed) is
    what the report cuts into phases and seconds; Locust's own CSVs keep rolling windows only.
    """
    status = getattr(response, "status_code", 0) or 0
    _requests_log().write(
        f"{time.time():.3f},{name},{response_time:.1f},{status},{int(exception is not None)}\n"
    )
    if status >= 500 or (exception is not None and status == 0):
        row = {"t": time.time(), "name": name, "status": status, "error": str(exception)[:200]}
        with _errors_lock:
            record("errors", row)
